"""Call-path benchmark: SIPp load into 12345 with auto-answering baresip agents, through our
dialplan + FastAGI, and the same with the AGI step bypassed (AGI_ENABLED=no), in one run.

Not a test: it prints figures side by side and their ratio (ours / bypass), since machines are
noisy and only the same-run comparison means something. Run as root from the repo:

    .venv/bin/python -m bench.call_load --rates 10,20,30,40 --calls 300 --agents 24
    .venv/bin/python -m bench.call_load --ramp --rates 10,20,30,40,50 --step-seconds 10

For each rate and mode it reports calls answered by an agent (the app's call records), SIPp
completed and failed calls (with SIPp's failure kinds), the most calls held at once,
Asterisk's, our app's and SIPp's CPU (percent of one core over the step) and the whole box's,
UDP receive errors, the FastAGI handling time p50/p99 from the app's health endpoint, the most
media channels the node counted (``/api/health`` ``media_ports``), and Asterisk's
taskprocessors: ``core show taskprocessors`` is sampled every second, and the queue that grew
deepest during the step is printed with whether any queue passed its high-water mark (where
PJSIP stops taking new INVITEs, ``taskprocessor_overload_trigger``). ``--ramp`` raises the rate
step by step; a mode stops climbing after its first step with failed calls.

The node's RTP range is ``--rtp-ports`` (10,000 by default, a production size): with the test
bed's 200 ports the bench measured its own port range (488 once ~100 media channels were up).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import load_settings
from hotline.asterisk_ctl import AsteriskControl
from tests.conftest import PostgresServer
from tests.e2e.bed import Node, missing_tools, start_node, stop_node
from tests.e2e.helpers import agent_phone
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav
from tests.e2e.peers.baresip import BaresipAgent
from tests.e2e.peers.sipp import SippCall

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap

GREETING_AND_RING_MS = 12000
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def box_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def udp_errors() -> int:
    """UDP datagrams the kernel dropped for full receive buffers, machine-wide (RcvbufErrors
    of ``netstat -su``)."""
    with open("/proc/net/snmp") as fh:
        udp = [line.split() for line in fh if line.startswith("Udp:")]
    return int(dict(zip(udp[0], udp[1], strict=True))["RcvbufErrors"])


def socket_drops(port: int) -> int:
    """Datagrams dropped on the UDP sockets bound to ``port`` (Asterisk's SIP socket: an
    INVITE dropped there is one the caller must retransmit); the last column of
    /proc/net/udp."""
    drops = 0
    with open("/proc/net/udp") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                drops += int(fields[-1])
    return drops


def health(node: Node) -> dict[str, object]:
    with urllib.request.urlopen(node.api + "/api/health", timeout=5) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


# --- Asterisk's taskprocessors, sampled while a step runs --------------------------------------


@dataclass(frozen=True, slots=True)
class Taskprocessor:
    name: str
    in_queue: int
    max_depth: int
    high_water: int
    high_time_us: int | None  # the longest task it ran (Asterisk 22 prints it), if printed


def parse_taskprocessors(text: str) -> list[Taskprocessor]:
    """Rows of ``core show taskprocessors``: name, processed, in queue, max depth, low water,
    high water, and since Asterisk 22 low and high task time in microseconds (the header and
    the count line do not parse as numbers and are skipped)."""
    rows = []
    for line in text.splitlines():
        name, *numbers = line.split() or [""]
        if len(numbers) < 5 or not all(n.isdigit() for n in numbers):
            continue
        values = [int(n) for n in numbers]
        high_time = values[6] if len(values) >= 7 else None
        rows.append(Taskprocessor(name, values[1], values[2], values[4], high_time))
    return rows


@dataclass
class StepWatch:
    """What the sampler saw during one step."""

    max_depth_before: dict[str, int]
    peak_in_queue: dict[str, int] = field(default_factory=dict)
    last: dict[str, Taskprocessor] = field(default_factory=dict)
    peak_media: int = 0
    media_level: str = "-"
    samples: int = 0
    slowest_sample_s: float = 0.0

    def deepest(self) -> tuple[str, int]:
        """The queue whose depth grew most during the step: its max depth if that rose in the
        step, else the most it held at a sample."""
        best, depth = "-", 0
        for name, tp in self.last.items():
            grew = tp.max_depth if tp.max_depth > self.max_depth_before.get(name, 0) else 0
            reached = max(grew, self.peak_in_queue.get(name, 0))
            if reached > depth:
                best, depth = name, reached
        return best, depth

    def over_high_water(self) -> list[str]:
        """Queues whose max depth reached their high-water mark during the step."""
        return [
            name
            for name, tp in self.last.items()
            if tp.max_depth >= tp.high_water > 0
            and tp.max_depth > self.max_depth_before.get(name, 0)
        ]


class Sampler:
    """Every second: ``core show taskprocessors`` (``asterisk -rx`` in the root, without the
    ``hotline`` wrapper's Python start-up on the loaded box) and the app's media count."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._ctl = AsteriskControl(load_settings(node.config))

    def taskprocessors(self) -> list[Taskprocessor]:
        return parse_taskprocessors(self._ctl.cli("core show taskprocessors"))

    @contextmanager
    def step(self) -> Iterator[StepWatch]:
        watch = StepWatch({tp.name: tp.max_depth for tp in self.taskprocessors()})
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(watch, stop), daemon=True)
        thread.start()
        try:
            yield watch
        finally:
            stop.set()
            thread.join()
            self._sample(watch)

    def _run(self, watch: StepWatch, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self._sample(watch)

    def _sample(self, watch: StepWatch) -> None:
        started = time.monotonic()
        try:
            rows = self.taskprocessors()
        except Exception as exc:  # a CLI that times out under load is itself a finding
            print(f"  (taskprocessor sample failed: {exc})", flush=True)
            rows = []
        watch.slowest_sample_s = max(watch.slowest_sample_s, time.monotonic() - started)
        watch.samples += 1
        for tp in rows:
            watch.last[tp.name] = tp
            watch.peak_in_queue[tp.name] = max(watch.peak_in_queue.get(tp.name, 0), tp.in_queue)
        try:
            media = health(self._node)["media_ports"]
        except Exception:
            return
        if isinstance(media, dict):
            if media["in_use"] >= watch.peak_media:
                watch.media_level = str(media["level"])
            watch.peak_media = max(watch.peak_media, int(media["in_use"]))


# --- one step: a rate in one mode -----------------------------------------------------------


@dataclass
class Row:
    mode: str
    rate: float
    calls: int
    answered: int
    ok: int
    failed: int
    failures: dict[str, int]
    max_concurrent: int
    wall_s: float
    asterisk_cpu: float
    app_cpu: float
    sipp_cpu: float
    box_cpu: float  # percent of all cores, everything on the machine
    udp_errors: int  # machine-wide: mostly RTP nobody reads (SIPp plays, does not read)
    sip_drops: int
    agi_p50: float | None
    agi_p99: float | None
    peak_media: int
    media_level: str
    deepest_queue: str
    deepest_depth: int
    over_high_water: list[str]
    slowest_cli_s: float
    load: str


def answered_since(node: Node, since: str) -> int:
    """Calls an agent answered, as the app recorded them (late rows included in bypass)."""
    req = urllib.request.Request(
        f"{node.api}/api/calls?limit=500&since={since}",
        headers={"Authorization": f"Bearer {node.token}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return sum(1 for c in json.loads(resp.read()) if c["outcome"] == "answered")


def read_sipp_stats(path: Path) -> tuple[int, int, int, dict[str, int]]:
    """Completed, failed, the most calls at once, and the failure kinds SIPp counted."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    last = rows[-1]
    peak = max(int(r["CurrentCall"]) for r in rows)
    kinds = {
        k.removeprefix("Failed").removesuffix("(C)"): int(v)
        for k, v in last.items()
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v != "0"
    }
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]), peak, kinds


def start_load(
    node: Node,
    workdir: Path,
    prefix: str,
    rate: float,
    calls: int,
    talk_ms: int,
    pcap: Path,
    stats: Path,
) -> SippCall:
    """SIPp's citizens calling 12345 at ``rate`` (numbers ``prefix`` + its call counter), each
    holding through the greeting and ring and ``talk_ms`` of speech; stats to ``stats``."""
    return SippCall(
        workdir=workdir,
        service="12345",
        caller=f"{prefix}[call_number]",
        target=node.sip_target,
        pcap=pcap,
        hold_ms=GREETING_AND_RING_MS + talk_ms,
        rate=rate,
        calls=calls,
        stats_file=stats,
    ).start()


def run_load(
    node: Node,
    sampler: Sampler,
    mode: str,
    rate: float,
    calls: int,
    talk_ms: int,
    pcap: Path,
    work: Path,
) -> Row:
    node.cli(f"dialplan set global AGI_ENABLED {'yes' if mode == 'ours' else 'no'}")
    pids = (node.runtime["asterisk"]["pid"], node.runtime["app"]["pid"])
    cpu0 = [cpu_seconds(p) for p in pids]
    sip_port = int(node.runtime["sip"]["port"])
    box0, udp0, sip0 = box_ticks(), udp_errors(), socket_drops(sip_port)
    stats = work / f"stats-{mode}-{rate}.csv"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load = os.getloadavg()[0]
    started = time.monotonic()
    with sampler.step() as watch:
        sipp = start_load(
            node, work / f"sipp-{mode}-{rate}", "139", rate, calls, talk_ms, pcap, stats
        )
        assert sipp.proc is not None
        sipp_pid = sipp.proc.pid
        sipp_cpu = 0.0
        while sipp.proc.poll() is None and time.monotonic() - started < calls / rate + 300:
            # SIPp's CPU while it lives (its /proc entry goes with it)
            try:
                sipp_cpu = cpu_seconds(sipp_pid)
            except OSError:
                break
            time.sleep(0.5)
        sipp.wait(timeout=60)
    wall = time.monotonic() - started
    cpu1 = [cpu_seconds(p) for p in pids]
    box1, udp1, sip1 = box_ticks(), udp_errors(), socket_drops(sip_port)
    ok, failed, peak, kinds = read_sipp_stats(stats)
    agi = health(node)["fastagi"]
    assert isinstance(agi, dict)
    time.sleep(1)  # let the last AgentComplete/Hangup reach the app
    deepest, depth = watch.deepest()
    return Row(
        mode=mode,
        rate=rate,
        calls=calls,
        answered=answered_since(node, since),
        ok=ok,
        failed=failed,
        failures=kinds,
        max_concurrent=peak,
        wall_s=wall,
        asterisk_cpu=100 * (cpu1[0] - cpu0[0]) / wall,
        app_cpu=100 * (cpu1[1] - cpu0[1]) / wall,
        sipp_cpu=100 * sipp_cpu / wall,
        box_cpu=100 * (box1[0] - box0[0]) / max(box1[1] - box0[1], 1),
        udp_errors=udp1 - udp0,
        sip_drops=sip1 - sip0,
        agi_p50=agi["p50_ms"] if mode == "ours" else None,
        agi_p99=agi["p99_ms"] if mode == "ours" else None,
        peak_media=watch.peak_media,
        media_level=watch.media_level,
        deepest_queue=deepest,
        deepest_depth=depth,
        over_high_water=watch.over_high_water(),
        slowest_cli_s=watch.slowest_sample_s,
        load=f"{load:.1f}",
    )


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


HEADER = (
    f"{'mode':7}{'cps':>5}{'calls':>6}{'answ':>6}{'done':>6}{'fail':>6}{'peak':>6}{'media':>6}"
    f"{'ast%':>6}{'app%':>6}{'sipp%':>6}{'box%':>6}{'udpE':>7}{'sipE':>5}{'AGI p50':>8}{'p99':>8}"
    f"{'load':>6}  deepest taskprocessor (depth), over high water"
)


def row_line(r: Row) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in r.failures.items())
    over = ", ".join(r.over_high_water[:3]) or "none"
    if len(r.over_high_water) > 3:
        over += f" and {len(r.over_high_water) - 3} more"
    return (
        f"{r.mode:7}{r.rate:>5.0f}{r.calls:>6}{r.answered:>6}{r.ok:>6}{r.failed:>6}"
        f"{r.max_concurrent:>6}{r.peak_media:>6}{r.asterisk_cpu:>6.0f}{r.app_cpu:>6.0f}"
        f"{r.sipp_cpu:>6.0f}{r.box_cpu:>6.0f}{r.udp_errors:>7}{r.sip_drops:>5}"
        f"{fmt(r.agi_p50):>8}{fmt(r.agi_p99):>8}{r.load:>6}  "
        f"{r.deepest_queue} ({r.deepest_depth}), over: {over}"
        + (f"; failures: {kinds}" if kinds else "")
        + (f"; media ports {r.media_level}" if r.media_level not in ("ok", "-") else "")
        + (f"; CLI took {r.slowest_cli_s:.1f} s" if r.slowest_cli_s > 2 else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="2,4", help="calls per second, comma-separated")
    ap.add_argument("--calls", type=int, default=60, help="calls per step")
    ap.add_argument(
        "--step-seconds", type=float, help="instead of --calls: each step offers rate x this"
    )
    ap.add_argument(
        "--ramp", action="store_true", help="a mode stops climbing after a step with failures"
    )
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--talk-ms", type=int, default=3000)
    ap.add_argument("--rtp-ports", type=int, default=10000, help="size of the node's RTP range")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    # `kill` stops the run like Ctrl-C: the node, its Asterisk and the phones are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    agents_ids = [str(1001 + i) for i in range(args.agents)]
    citizen = speech_wav(CITIZEN_SAY, work / "citizen.wav", repeat=3)
    wav_to_pcap(citizen, work / "citizen.pcap")
    agent_wav = speech_wav(AGENT_SAY, work / "agent.wav", repeat=8)
    pg = PostgresServer() if args.db == "postgresql" else None
    if pg is not None:
        pg.start()
    node = start_node(
        work / "node",
        "bench",
        agents_ids,
        rtp=args.rtp_ports,
        database_url=pg.create_database() if pg is not None else None,
    )
    agents: list[BaresipAgent] = []
    rows: list[Row] = []
    try:
        base = 46000
        for i, a in enumerate(agents_ids):
            agents.append(agent_phone(node, a, agent_wav, base + i * 30, work))
        sampler = Sampler(node)
        rtp = node.settings["sip"]
        print(
            f"node up ({args.db}); {len(agents)} agents registered; Asterisk "
            f"{node.cli('core show version').split()[1]}; RTP {rtp['rtp_start']}-"
            f"{rtp['rtp_end']}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        print(HEADER)
        climbing = {"ours", "bypass"}
        for rate in (float(r) for r in args.rates.split(",")):
            calls = round(rate * args.step_seconds) if args.step_seconds else args.calls
            for mode in ("ours", "bypass"):
                if mode not in climbing:
                    continue
                row = run_load(
                    node, sampler, mode, rate, calls, args.talk_ms, work / "citizen.pcap", work
                )
                rows.append(row)
                print(row_line(row), flush=True)
                if args.ramp and row.failed:
                    climbing.discard(mode)
            if not climbing:
                break
    finally:
        for agent in agents:
            agent.stop()
        stop_node(node)
        if pg is not None:
            pg.stop()
    report(rows)


def report(rows: list[Row]) -> None:
    print()
    print(HEADER)
    for r in rows:
        print(row_line(r))
    print()
    print("ratio ours / bypass (same run):")
    by_rate: dict[float, dict[str, Row]] = {}
    for r in rows:
        by_rate.setdefault(r.rate, {})[r.mode] = r
    for rate, pair in by_rate.items():
        ours, bypass = pair.get("ours"), pair.get("bypass")
        if ours is None or bypass is None:
            gone = "ours" if ours is None else "bypass"
            print(f"  {rate:.0f} cps offered: {gone} had already failed a lower rate")
            continue
        print(
            f"  {rate:.0f} cps offered: completed {ours.ok}/{bypass.ok} = "
            f"{ours.ok / max(bypass.ok, 1):.2f}, failed {ours.failed}/{bypass.failed}, "
            f"answered {ours.answered}/{bypass.answered}, Asterisk CPU "
            f"{ours.asterisk_cpu / max(bypass.asterisk_cpu, 1e-9):.2f}x, "
            f"peak calls {ours.max_concurrent}/{bypass.max_concurrent}"
        )
    for mode in ("ours", "bypass"):
        clean = [r.rate for r in rows if r.mode == mode and not r.failed]
        print(f"  {mode}: highest rate with 0 failed calls: {fmt(max(clean, default=None), '.0f')}")


if __name__ == "__main__":
    main()

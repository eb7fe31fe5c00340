"""Call-path benchmark: SIPp load into 12345 with auto-answering baresip agents, through our
dialplan + FastAGI, and the same with the AGI step bypassed (AGI_ENABLED=no), in one run.

Not a test: it prints figures side by side and their ratio (ours / bypass), since machines are
noisy and only the same-run comparison means something. Run as root from the repo:

    .venv/bin/python -m bench.call_load --rates 2,4 --calls 60 --agents 12

For each rate and mode it reports calls answered by an agent (the app's call records), SIPp
failures, the most calls
held at once, Asterisk's and our process's CPU (percent of one core over the run), and the
FastAGI handling time p50/p99 from the app's health endpoint.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

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


def health(node: Node) -> dict[str, object]:
    with urllib.request.urlopen(node.api + "/api/health", timeout=5) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


@dataclass
class Row:
    mode: str
    rate: float
    answered: int
    ok: int
    failed: int
    max_concurrent: int
    wall_s: float
    asterisk_cpu: float
    app_cpu: float
    agi_p50: float | None
    agi_p99: float | None


def answered_since(node: Node, since: str) -> int:
    """Calls an agent answered, as the app recorded them (late rows included in bypass)."""
    req = urllib.request.Request(
        f"{node.api}/api/calls?limit=500&since={since}",
        headers={"Authorization": f"Bearer {node.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return sum(1 for c in json.loads(resp.read()) if c["outcome"] == "answered")


def read_sipp_stats(path: Path) -> tuple[int, int, int]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    last = rows[-1]
    peak = max(int(r["CurrentCall"]) for r in rows)
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]), peak


def run_load(
    node: Node, mode: str, rate: float, calls: int, talk_ms: int, pcap: Path, work: Path
) -> Row:
    node.cli(f"dialplan set global AGI_ENABLED {'yes' if mode == 'ours' else 'no'}")
    pids = (node.runtime["asterisk"]["pid"], node.runtime["app"]["pid"])
    cpu0 = [cpu_seconds(p) for p in pids]
    stats = work / f"stats-{mode}-{rate}.csv"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.monotonic()
    sipp = SippCall(
        workdir=work / f"sipp-{mode}-{rate}",
        service="12345",
        caller="139[call_number]",
        target=node.sip_target,
        pcap=pcap,
        hold_ms=GREETING_AND_RING_MS + talk_ms,
        rate=rate,
        calls=calls,
        stats_file=stats,
    ).start()
    sipp.wait(timeout=calls / rate + 300)
    wall = time.monotonic() - started
    cpu1 = [cpu_seconds(p) for p in pids]
    ok, failed, peak = read_sipp_stats(stats)
    agi = health(node)["fastagi"]
    assert isinstance(agi, dict)
    time.sleep(1)  # let the last AgentComplete/Hangup reach the app
    return Row(
        mode,
        rate,
        answered_since(node, since),
        ok,
        failed,
        peak,
        wall,
        100 * (cpu1[0] - cpu0[0]) / wall,
        100 * (cpu1[1] - cpu0[1]) / wall,
        agi["p50_ms"] if mode == "ours" else None,
        agi["p99_ms"] if mode == "ours" else None,
    )


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


HEADER = (
    f"{'mode':8}{'offered cps':>12}{'answered':>10}{'completed':>10}{'failed':>8}{'peak':>6}"
    f"{'ast CPU%':>10}{'app CPU%':>10}{'AGI p50 ms':>12}{'AGI p99 ms':>12}"
)


def row_line(r: Row) -> str:
    return (
        f"{r.mode:8}{r.rate:>12.1f}{r.answered:>10}{r.ok:>10}{r.failed:>8}"
        f"{r.max_concurrent:>6}{r.asterisk_cpu:>10.1f}{r.app_cpu:>10.1f}"
        f"{fmt(r.agi_p50, '.2f'):>12}{fmt(r.agi_p99, '.2f'):>12}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="2,4", help="calls per second, comma-separated")
    ap.add_argument("--calls", type=int, default=60, help="calls per run")
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--talk-ms", type=int, default=3000)
    args = ap.parse_args()
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    agents_ids = [str(1001 + i) for i in range(args.agents)]
    citizen = speech_wav(CITIZEN_SAY, work / "citizen.wav", repeat=3)
    wav_to_pcap(citizen, work / "citizen.pcap")
    agent_wav = speech_wav(AGENT_SAY, work / "agent.wav", repeat=8)
    node = start_node(work / "node", "bench", agents_ids)
    agents: list[BaresipAgent] = []
    rows: list[Row] = []
    try:
        base = 46000
        for i, a in enumerate(agents_ids):
            agents.append(agent_phone(node, a, agent_wav, base + i * 30, work))
        print(
            f"node up; {len(agents)} agents registered; Asterisk "
            f"{node.cli('core show version').split()[1]}"
        )
        print(HEADER)
        for rate in (float(r) for r in args.rates.split(",")):
            for mode in ("ours", "bypass"):
                row = run_load(
                    node, mode, rate, args.calls, args.talk_ms, work / "citizen.pcap", work
                )
                rows.append(row)
                print(row_line(row), flush=True)
    finally:
        for agent in agents:
            agent.stop()
        stop_node(node)
    print()
    print(HEADER)
    for r in rows:
        print(row_line(r))
    print()
    print("ratio ours / bypass (same run):")
    for ours, bypass in zip(rows[::2], rows[1::2], strict=True):
        print(
            f"  {ours.rate:.1f} cps offered: answered {ours.answered}/{bypass.answered} = "
            f"{ours.answered / max(bypass.answered, 1):.2f}, Asterisk CPU "
            f"{ours.asterisk_cpu / max(bypass.asterisk_cpu, 1e-9):.2f}x, "
            f"peak calls {ours.max_concurrent}/{bypass.max_concurrent}"
        )


if __name__ == "__main__":
    main()

"""Load with faults (issue 14 §3): a steady SIPp load into 12345 on one node with answering
baresip agents, once without a fault (the same run's baseline) and once per fault, each
fault struck a third of the way through the load:

- ``app``: the app is killed with SIGKILL and started again 5 s later (`hotline up`); calls
  keep reaching agents meanwhile (Asterisk's dialplan needs no Python to queue and bridge),
  and on restart the app reconciles the calls it missed from Asterisk's queue log.
- ``asterisk``: Asterisk is stopped and started again (`hotline asterisk stop|start`); the
  calls it carried are lost (SIPp counts them failed); the app's AMI link reconnects and the
  agents' states are rebuilt.
- ``bus``: the bus's redis-server is killed with SIGKILL and started again 5 s later (the run
  then uses ``[bus] engine = "redis"``, Redis with its append-only file fsynced on every
  write, as the README asks); the app holds its events meanwhile and flushes them after.
- ``disk``: the recordings volume (a 32 MB tmpfs mounted over the node's recordings folder for
  this run) is filled to the last byte for 10 s, then freed; MixMonitor cannot write, calls
  go on, the node raises its low-space alert and clears it.

Not a test: it prints one table — offered, completed and failed (SIPp's view), the call
records the app holds for the run's callers, records missing, tickets missing (records
without a ticket draft), duplicated records, the seconds from the fault to the node's own
alert (``alert s``: health shows Redis unreachable or the volume low), and two recovery
times, from the repair command (``recover s``) and from the repaired part being up
(``after up s``), to the app being whole again: AMI logged in with no agent logged out, and
for ``app`` its first reconcile run done, for ``bus`` no event held back, for ``disk`` the
alert cleared. Run as root from the repo (``--bus redis`` runs every fault on the Redis
bus; it is the default when ``bus`` is among the faults):

    .venv/bin/python -m bench.faults --rate 2 --calls 60 --agents 12
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.call_load import health, read_sipp_stats, start_load
from tests.e2e.bed import Node, hotline, missing_tools, start_node, stop_node
from tests.e2e.helpers import agent_phone, api
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav
from tests.e2e.peers.baresip import BaresipAgent
from tests.e2e.peers.redis_server import RedisServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap

FAULTS = ("none", "app", "asterisk", "bus", "disk")
DISK_MB = 32  # the tmpfs the disk fault fills; the node's floor is set below it
FLOOR_MB = 8
FULL_SECONDS = 10


@dataclass
class Struck:
    """What one fault showed: the alert's delay and the two recovery times."""

    alert_s: float | None
    recover_s: float
    after_up_s: float


@dataclass
class Row:
    fault: str
    offered: int
    completed: int
    failed: int
    records: int
    missing_records: int
    missing_tickets: int
    duplicates: int
    struck: Struck | None  # None for the run without a fault


def calls_since(node: Node, since: str, prefix: str) -> list[dict[str, Any]]:
    """The app's call records of this run's callers (numbers ``prefix`` + SIPp's counter)."""
    rows: list[dict[str, Any]] = api(node, f"/api/calls?limit=500&since={since}")
    return [r for r in rows if str(r.get("caller") or "").startswith(prefix)]


def poll(node: Node, began: float, ready: Callable[[dict[str, Any]], bool], what: str) -> float:
    """Seconds from ``began`` until ``ready(health)``, polling every 0.1 s."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if ready(health(node)):
                return time.monotonic() - began
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not happen within 120 s: {health(node)}")


def whole(node: Node, reconciled: bool) -> Callable[[dict[str, Any]], bool]:
    """The app is whole: AMI logged in, every agent's state known again (none logged out),
    and — after an app restart — its first reconcile run finished."""

    def ready(h: dict[str, Any]) -> bool:
        if not h.get("ami_connected"):
            return False
        done = h.get("reconcile")
        if reconciled and not (isinstance(done, dict) and done.get("finished_at")):
            return False
        return all(a["state"] != "logged_out" for a in api(node, "/api/agents"))

    return ready


def strike(node: Node, fault: str, redis: RedisServer | None, disk: Path | None) -> Struck:
    """Cause ``fault``, repair it, and time the alert and the recovery."""
    if fault == "app":
        os.kill(node.app_pid(), signal.SIGKILL)
        time.sleep(5)  # calls go on reaching agents while the app is down
        began = time.monotonic()
        hotline(node.config, "up", timeout=120)
        up = time.monotonic()
        recover = poll(node, began, whole(node, reconciled=True), "the app's recovery")
        return Struck(None, recover, recover - (up - began))
    if fault == "asterisk":
        hotline(node.config, "asterisk", "stop", timeout=60)
        began = time.monotonic()
        hotline(node.config, "asterisk", "start", timeout=120)  # returns when fully booted
        up = time.monotonic()
        recover = poll(node, began, whole(node, reconciled=False), "the AMI link's recovery")
        return Struck(None, recover, recover - (up - began))
    if fault == "bus":
        assert redis is not None
        struck = time.monotonic()
        redis.kill()
        alert = poll(node, struck, lambda h: not h["bus"]["reachable"], "the bus alert")
        time.sleep(max(5 - alert, 0))
        began = time.monotonic()
        redis.start()  # returns when Redis answers PING
        up = time.monotonic()
        recover = poll(
            node,
            began,
            lambda h: h["bus"]["reachable"] and h["bus"]["held"] == 0,
            "the bus's recovery",
        )
        return Struck(alert, recover, recover - (up - began))
    assert disk is not None
    struck = time.monotonic()
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:  # to the last byte, as a disk that really filled
            f.write(b"\0" * (1 << 20))
            f.flush()
    alert = poll(node, struck, lambda h: bool((h["recordings"] or {}).get("low")), "disk alert")
    time.sleep(max(FULL_SECONDS - alert, 0))
    began = time.monotonic()
    filler.unlink()
    recover = poll(
        node, began, lambda h: not (h["recordings"] or {}).get("low"), "the disk's recovery"
    )
    return Struck(alert, recover, recover)


@contextlib.contextmanager
def small_recordings_disk(node: Node) -> Iterator[Path]:
    """A tmpfs over the node's recordings folder for one run; lazily unmounted after (files
    Asterisk still holds open go with it)."""
    where = node.recordings
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def run(
    node: Node,
    fault: str,
    rate: float,
    calls: int,
    talk_ms: int,
    pcap: Path,
    work: Path,
    redis: RedisServer | None,
) -> Row:
    prefix = f"13{FAULTS.index(fault) + 5}"  # 135…, 136…, …: each run its own callers
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stats = work / f"stats-{fault}.csv"
    with contextlib.ExitStack() as stack:
        disk = stack.enter_context(small_recordings_disk(node)) if fault == "disk" else None
        sipp = start_load(node, work / f"sipp-{fault}", prefix, rate, calls, talk_ms, pcap, stats)
        struck: list[Struck] = []
        if fault != "none":
            timer = threading.Timer(
                calls / rate / 3, lambda: struck.append(strike(node, fault, redis, disk))
            )
            timer.start()
        sipp.wait(timeout=calls / rate + 400)
        if fault != "none":
            timer.join()
        time.sleep(12)  # the follow-up reconcile (every 30 s at most) and the last hang-ups
        if fault == "app":
            time.sleep(20)
    ok, failed, _, _ = read_sipp_stats(stats)
    records = calls_since(node, since, prefix)
    keys = Counter(f"{r['node_id']}:{r['uniqueid']}" for r in records)
    return Row(
        fault,
        calls,
        ok,
        failed,
        len(records),
        max(calls - len(keys), 0),
        sum(1 for r in records if not r.get("ticket_id")),
        sum(n - 1 for n in keys.values()),
        struck[0] if struck else None,
    )


HEADER = (
    f"{'fault':10}{'offered':>9}{'completed':>11}{'failed':>8}{'records':>9}"
    f"{'rec. missing':>14}{'tickets missing':>17}{'twice':>7}{'alert s':>9}{'recover s':>11}"
    f"{'after up s':>12}"
)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def line(r: Row) -> str:
    hit = r.struck
    alert, recover, after_up = (hit.alert_s, hit.recover_s, hit.after_up_s) if hit else (None,) * 3
    return (
        f"{r.fault:10}{r.offered:>9}{r.completed:>11}{r.failed:>8}{r.records:>9}"
        f"{r.missing_records:>14}{r.missing_tickets:>17}{r.duplicates:>7}"
        f"{_s(alert):>9}{_s(recover):>11}{_s(after_up):>12}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=2, help="calls per second")
    ap.add_argument("--calls", type=int, default=60, help="calls per run")
    ap.add_argument("--agents", type=int, default=12)
    ap.add_argument("--talk-ms", type=int, default=3000)
    ap.add_argument(
        "--faults", default=",".join(FAULTS), help="comma-separated: " + ",".join(FAULTS)
    )
    ap.add_argument("--bus", choices=("memory", "redis"), help="default: redis if bus is a fault")
    args = ap.parse_args()
    faults = args.faults.split(",")
    if unknown := set(faults) - set(FAULTS):
        raise SystemExit(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    bus = args.bus or ("redis" if "bus" in faults else "memory")
    if bus == "memory" and "bus" in faults:
        raise SystemExit("the bus fault needs --bus redis")
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    work = Path(tempfile.mkdtemp(prefix="hotline-faults-"))
    agent_ids = [str(1001 + i) for i in range(args.agents)]
    wav_to_pcap(speech_wav(CITIZEN_SAY, work / "citizen.wav", repeat=3), work / "citizen.pcap")
    agent_wav = speech_wav(AGENT_SAY, work / "agent.wav", repeat=8)
    redis = RedisServer() if bus == "redis" else None
    extra = f"""
[recordings]
min_free_mb = {FLOOR_MB}
check_seconds = 1
"""
    if redis is not None:
        redis.start()
        extra += f'\n[bus]\nengine = "redis"\nurl = "{redis.url}"\n'
    node = start_node(work / "node", "faults", agent_ids, extra=extra)
    agents: list[BaresipAgent] = []
    rows: list[Row] = []
    try:
        for i, a in enumerate(agent_ids):
            agents.append(agent_phone(node, a, agent_wav, 46000 + i * 30, work))
        print(
            f"node up; {len(agents)} agents; {args.rate:g} calls/s, {args.calls} calls a run;"
            f" bus {bus}"
        )
        print(HEADER, flush=True)
        for fault in faults:
            pcap = work / "citizen.pcap"
            rows.append(run(node, fault, args.rate, args.calls, args.talk_ms, pcap, work, redis))
            print(line(rows[-1]), flush=True)
    finally:
        for agent in agents:
            agent.stop()
        stop_node(node)
        if redis is not None:
            redis.stop()
    print()
    print(HEADER)
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()

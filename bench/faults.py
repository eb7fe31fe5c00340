"""Load with faults (issue 14 §3): a steady SIPp load into 12345 on one node with answering
baresip agents, once without a fault (the same run's baseline) and once per fault, each
fault struck a third of the way through the load:

- ``app``: the app is killed with SIGKILL and started again 5 s later (`hotline up`); calls
  keep reaching agents meanwhile (Asterisk's dialplan needs no Python to queue and bridge),
  and on restart the app reconciles the calls it missed from Asterisk's queue log.
- ``asterisk``: Asterisk is stopped and started again (`hotline asterisk stop|start`); the
  calls it carried are lost (SIPp counts them failed); the app's AMI link reconnects and the
  agents' states are rebuilt.

Not a test: it prints one table — offered, completed and failed (SIPp's view), the call
records the app holds for the run's callers, records missing, tickets missing (records
without a ticket draft), duplicated records, and the seconds from the restart command to the
app being whole again (AMI logged in and, for ``app``, its first reconcile run done). Run as
root from the repo:

    .venv/bin/python -m bench.faults --rate 2 --calls 60 --agents 12
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
import urllib.request
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.call_load import health, read_sipp_stats, start_load
from tests.e2e.bed import Node, hotline, missing_tools, start_node, stop_node
from tests.e2e.helpers import agent_phone
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav
from tests.e2e.peers.baresip import BaresipAgent

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap

FAULTS = ("none", "app", "asterisk")


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
    recover_s: float | None


def calls_since(node: Node, since: str, prefix: str) -> list[dict[str, Any]]:
    """The app's call records of this run's callers (numbers ``prefix`` + SIPp's counter)."""
    req = urllib.request.Request(
        f"{node.api}/api/calls?limit=500&since={since}",
        headers={"Authorization": f"Bearer {node.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        rows: list[dict[str, Any]] = json.loads(resp.read())
    return [r for r in rows if str(r.get("caller") or "").startswith(prefix)]


def wait_whole(node: Node, began: float, need_reconcile_after: float | None) -> float:
    """Seconds from ``began`` until AMI is logged in (and a reconcile run finished after
    ``need_reconcile_after``, a wall-clock time), polling health every 0.1 s."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            h = health(node)
        except OSError:
            time.sleep(0.1)
            continue
        done = h.get("reconcile")
        reconciled = need_reconcile_after is None or (
            isinstance(done, dict) and bool(done.get("finished_at"))
        )
        if h.get("ami_connected") and reconciled:
            return time.monotonic() - began
        time.sleep(0.1)
    raise SystemExit(f"the node did not recover within 120 s: {health(node)}")


def strike(node: Node, fault: str) -> float:
    """Cause ``fault`` and return the seconds until the app is whole again."""
    if fault == "app":
        os.kill(node.app_pid(), signal.SIGKILL)
        time.sleep(5)  # calls go on reaching agents while the app is down
        began = time.monotonic()
        hotline(node.config, "up", timeout=120)
        return wait_whole(node, began, time.time())
    hotline(node.config, "asterisk", "stop", timeout=60)
    began = time.monotonic()
    hotline(node.config, "asterisk", "start", timeout=120)
    return wait_whole(node, began, None)


def run(
    node: Node, fault: str, rate: float, calls: int, talk_ms: int, pcap: Path, work: Path
) -> Row:
    prefix = f"13{FAULTS.index(fault) + 7}"  # 137…, 138…, 139…: each run its own callers
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stats = work / f"stats-{fault}.csv"
    sipp = start_load(node, work / f"sipp-{fault}", prefix, rate, calls, talk_ms, pcap, stats)
    recover: list[float] = []
    if fault != "none":
        timer = threading.Timer(calls / rate / 3, lambda: recover.append(strike(node, fault)))
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
        recover[0] if recover else None,
    )


HEADER = (
    f"{'fault':10}{'offered':>9}{'completed':>11}{'failed':>8}{'records':>9}"
    f"{'rec. missing':>14}{'tickets missing':>17}{'twice':>7}{'recover s':>11}"
)


def line(r: Row) -> str:
    rec = "-" if r.recover_s is None else f"{r.recover_s:.1f}"
    return (
        f"{r.fault:10}{r.offered:>9}{r.completed:>11}{r.failed:>8}{r.records:>9}"
        f"{r.missing_records:>14}{r.missing_tickets:>17}{r.duplicates:>7}{rec:>11}"
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
    args = ap.parse_args()
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    work = Path(tempfile.mkdtemp(prefix="hotline-faults-"))
    agent_ids = [str(1001 + i) for i in range(args.agents)]
    wav_to_pcap(speech_wav(CITIZEN_SAY, work / "citizen.wav", repeat=3), work / "citizen.pcap")
    agent_wav = speech_wav(AGENT_SAY, work / "agent.wav", repeat=8)
    node = start_node(work / "node", "faults", agent_ids)
    agents: list[BaresipAgent] = []
    rows: list[Row] = []
    try:
        for i, a in enumerate(agent_ids):
            agents.append(agent_phone(node, a, agent_wav, 46000 + i * 30, work))
        print(f"node up; {len(agents)} agents; {args.rate:g} calls/s, {args.calls} calls a run")
        print(HEADER, flush=True)
        for fault in args.faults.split(","):
            rows.append(
                run(node, fault, args.rate, args.calls, args.talk_ms, work / "citizen.pcap", work)
            )
            print(line(rows[-1]), flush=True)
    finally:
        for agent in agents:
            agent.stop()
        stop_node(node)
    print()
    print(HEADER)
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()

"""Screen-pop latency: from Asterisk's AgentConnect to the pop frame on the agent's WebSocket,
with many agent sockets connected, beside the raw AMI arrival measured in the same run.

Not a test: it prints figures. A real node (tests/e2e/bed.py), SIPp citizens, auto-answering
baresip agents; ``--sockets`` agent sockets stay connected (one per configured agent) while
``--calls`` calls are answered by ``--agents`` of them. Per call it records

- Asterisk's own event time (``Timestamp:``, timestampevents=yes) → the event's arrival at a
  raw AMI client of the bench (the baseline: what any AMI consumer could do);
- that arrival → the ``screen_pop`` frame at the agent's WebSocket (what our path adds:
  AMI client, tracker, bus, ticket write, hub).

Run as root from the repo:

    .venv/bin/python -m bench.screen_pop --sockets 100 --calls 30 --agents 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import websockets

from tests.e2e.bed import Node, missing_tools, start_node, stop_node
from tests.e2e.helpers import agent_phone
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav
from tests.e2e.peers.baresip import BaresipAgent
from tests.e2e.peers.sipp import SippCall

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap

TARGET_P99_MS = 50.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<44} n={len(values):>3}  p50 {pct(values, 0.5):7.2f} ms  "
        f"p99 {pct(values, 0.99):7.2f} ms  max {max(values):7.2f} ms  "
        f"mean {statistics.fmean(values):7.2f} ms"
    )


async def listen(node: Node, agent: str, pops: dict[str, float], ready: asyncio.Event) -> None:
    async with websockets.connect(node.ws_url(agent), max_queue=None) as ws:
        await ws.recv()  # hello
        ready.set()
        async for raw in ws:
            at = time.monotonic()
            frame = json.loads(raw)
            if frame.get("event") == "screen_pop":
                pops[frame["call_id"].split(":", 1)[1]] = at


async def measure(
    node: Node, sockets: list[str], calls: int, talk_ms: int, pcap: Path, work: Path
) -> tuple[list[float], list[float], list[float]]:
    pops: dict[str, float] = {}
    ready = [asyncio.Event() for _ in sockets]
    listeners = [
        asyncio.create_task(listen(node, a, pops, r)) for a, r in zip(sockets, ready, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
    print(f"{len(sockets)} agent sockets connected")
    # monotonic → wall clock, to compare with Asterisk's event timestamps
    offset = time.time() - time.monotonic()
    sipp: list[SippCall] = []
    async with AmiObserver(*node.ami_login()) as ami:
        for i in range(calls):
            sipp.append(
                SippCall(
                    workdir=work / f"call-{i}",
                    service="12345",
                    caller=f"1390000{i:04d}",
                    target=node.sip_target,
                    pcap=pcap,
                    hold_ms=12000 + talk_ms,
                ).start()
            )
            await asyncio.sleep(1.0)
        for call in sipp:  # every caller has been answered and has hung up
            await asyncio.to_thread(call.wait, 90)
        connects = ami.named("AgentConnect")
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    ami_ms, pop_ms, total_ms = [], [], []
    for ev in connects:
        uid = ev.fields["Uniqueid"]
        stamp = float(ev.fields.get("Timestamp", "0"))
        if stamp:
            ami_ms.append(1000 * (ev.at + offset - stamp))
        if uid in pops:
            pop_ms.append(1000 * (pops[uid] - ev.at))
            if stamp:
                total_ms.append(1000 * (pops[uid] + offset - stamp))
    missing = len(connects) - len(pop_ms)
    print(f"{len(connects)} calls answered, {len(pop_ms)} pops seen, {missing} missing")
    return ami_ms, pop_ms, total_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", type=int, default=100)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--agents", type=int, default=4, help="agents with a phone (answer calls)")
    ap.add_argument("--talk-ms", type=int, default=2000)
    args = ap.parse_args()
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-pop-"))
    ids = [str(1001 + i) for i in range(max(args.sockets, args.agents))]
    citizen = speech_wav(CITIZEN_SAY, work / "citizen.wav", repeat=2)
    wav_to_pcap(citizen, work / "citizen.pcap")
    agent_wav = speech_wav(AGENT_SAY, work / "agent.wav", repeat=2)
    node = start_node(work / "node", "pop", ids)
    phones: list[BaresipAgent] = []
    try:
        for i, agent in enumerate(ids[: args.agents]):
            phones.append(agent_phone(node, agent, agent_wav, 47000 + i * 30, work))
        ami_ms, pop_ms, total_ms = asyncio.run(
            measure(
                node, ids[: args.sockets], args.calls, args.talk_ms, work / "citizen.pcap", work
            )
        )
    finally:
        for phone in phones:
            phone.stop()
        stop_node(node)
    print()
    print(f"screen pop with {args.sockets} agent sockets connected, {args.calls} calls:")
    print(line("baseline: Asterisk event → raw AMI client", ami_ms))
    print(line("ours: AMI arrival → pop frame on WebSocket", pop_ms))
    print(line("end to end: Asterisk event → pop frame", total_ms))
    p99 = pct(pop_ms, 0.99)
    print(
        f"ratio p99 ours / baseline: {p99 / max(pct(ami_ms, 0.99), 1e-3):.1f}x; "
        f"target p99 ≤ {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'NOT met'}"
    )


if __name__ == "__main__":
    main()

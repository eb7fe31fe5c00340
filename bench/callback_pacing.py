"""Callback pacing benchmark: satisfaction callbacks (满意度回访) dialled by the app's one
scheduler through a real Asterisk, measured against the campaign's ``max_rate`` and
``max_channels``.

Not a test: it prints the achieved originate rate beside the configured one (as a ratio), the
most callback channels Asterisk held at once beside the channel limit, and the outcomes per
kind of citizen. Run as root from the repo (Asterisk runs in the cached chroot):

    .venv/bin/python -m bench.callback_pacing --minutes 2 --rate 2 --channels 8

The node runs one campaign whose calling window covers now (delay 0, one attempt, short ring).
Seeding shortcut: instead of walking N tickets through calls and the reply workflow, the bench
pauses the campaign over the API, writes N replied tickets and their pending callbacks (due now)
straight into the node's database, then resumes the campaign; from there on everything is the
app's own path (dispatch → Pacer → attempt row → AMI Originate → survey over FastAGI).

The citizens are one SIPp UAS on the carrier trunk's address (127.0.0.2) that branches on the
last digit of the dialled number: 0-5 answer and hang up after ``--hold-ms`` (the survey has
started by then), 6-7 reply 486 Busy Here, 8-9 ring until Asterisk gives up (CANCEL). Numbers are
seeded in that digit order, so the three kinds interleave through the whole run.

Measured from Asterisk's side with our own AMI observer: each callback channel (uniqueid
``<node>-callback-<attempt>``) is one Newchannel (the originate start) and one Hangup; the
achieved rate is (n - 1) / (last start - first start), per whole minute too, and the
concurrency curve of those channels gives the peak. Outcomes come from the app's attempt rows
(the campaign monitor) beside what the dialled numbers planned. Exit status 1 when the rate is
off by more than ±5 %, the channel limit was ever exceeded, or the outcomes differ from the plan.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from app.models import Callback, Ticket
from casework.lifecycle import TicketState
from core.db import sync_url
from core.events import utcnow
from tests.e2e.bed import Node, missing_tools, start_node, stop_node
from tests.e2e.helpers import api
from tests.e2e.peers.ami_observer import AmiObserver, ObservedEvent
from tests.e2e.peers.sipp import sipp_binary

CAMPAIGN = "bench"
# The node's time zone: start_node leaves the settings' default, which is Beijing time.
NODE_TZ = "Asia/Shanghai"
TOLERANCE = 0.05
# Last digit of the dialled number → how the citizen's phone behaves.
ANSWER_DIGITS, BUSY_DIGITS, IGNORE_DIGITS = "012345", "67", "89"
KINDS = (("answered", ANSWER_DIGITS), ("busy", BUSY_DIGITS), ("no_answer", IGNORE_DIGITS))


def _reply(status: str, *, tagged: bool = True, cseq: str = "[last_CSeq:]", attrs: str = "") -> str:
    """A SIPp ``<send>`` of a response to the request just received (``tagged``: with our
    To tag, as in every response of the INVITE dialog)."""
    tag = ";tag=[pid]SIPpTag09[call_number]" if tagged else ""
    return f"""  <send{attrs}>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{tag}
      [last_Call-ID:]
      {cseq}
      Content-Length: 0
    ]]>
  </send>
"""


# One UAS for many citizens at once; SIPp runs each INVITE as its own call and jumps on the
# dialled number (``test`` takes the branch only when the regexp matched).
_CITIZENS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="citizens answer, refuse or ignore">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:[0-9]*[{ANSWER_DIGITS}]@" search_in="msg" check_it="false"
            assign_to="answer"/>
      <ereg regexp="^INVITE sip:[0-9]*[{BUSY_DIGITS}]@" search_in="msg" check_it="false"
            assign_to="busy"/>
      <ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true"
            assign_to="asterisk_contact"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" check_it="true"
            assign_to="asterisk_from"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" check_it="true" assign_to="our_to"/>
    </action>
  </recv>
  <nop test="answer" next="answer"/>
  <nop test="busy" next="busy"/>

{_reply("180 Ringing")}  <recv request="CANCEL" timeout="{{ignore_ms}}"/>
{_reply("200 OK")}{_reply("487 Request Terminated", cseq="CSeq: [last_cseq_number] INVITE")}\
  <recv request="ACK" next="end"/>

  <label id="busy"/>
{_reply("486 Busy Here")}  <recv request="ACK" next="end"/>

  <label id="answer"/>
{_reply("180 Ringing")}  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag09[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:citizen@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=citizen 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK"/>
  <!-- The survey greets the citizen; they hang up after hold_ms (or Asterisk ends first). -->
  <recv request="BYE" timeout="{{hold_ms}}" ontimeout="hang_up"/>
{_reply("200 OK", tagged=False, attrs=' next="end"')}
  <label id="hang_up"/>
  <send retrans="500">
    <![CDATA[
      BYE [$asterisk_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$our_to];tag=[pid]SIPpTag09[call_number]
      To: [$asterisk_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:citizen@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <label id="end"/>
</scenario>
"""


@dataclass
class Citizens:
    """The SIPp UAS behind the carrier trunk, for ``calls`` calls at once or in turn."""

    workdir: Path
    host: str
    port: int
    calls: int
    hold_ms: int
    timeout_s: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Citizens:
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self.workdir / "citizens.xml"
        scenario.write_text(_CITIZENS.format(hold_ms=self.hold_ms, ignore_ms=300_000))
        self.proc = subprocess.Popen(
            [
                sipp_binary(),
                "-sf",
                str(scenario),
                "-i",
                self.host,
                "-p",
                str(self.port),
                "-mi",
                self.host,
                "-mp",
                "0",
                "-m",
                str(self.calls),
                "-nostdin",
                "-timeout",
                f"{self.timeout_s}s",
                "-trace_err",
                "-error_file",
                str(self.workdir / "citizens.err"),
                "-trace_stat",
                "-stf",
                str(self.workdir / "citizens.csv"),
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def campaign_toml(rate: float, channels: int, ring_seconds: int, tz: str) -> str:
    now = datetime.now(zoneinfo.ZoneInfo(tz))
    # A window open from an hour ago for the next four hours, so the bench runs at any hour.
    start, end = ((now + timedelta(hours=h)).strftime("%H:%M") for h in (-1, 4))
    return f"""
[callbacks]
tick_seconds = 1.0

[[callbacks.campaigns]]
name = "{CAMPAIGN}"
windows = [{{ start = "{start}", end = "{end}" }}]
delay_after_reply = 0
max_attempts = 1
ring_seconds = {ring_seconds}
max_channels = {channels}
max_rate = {rate}
"""


def number(i: int) -> str:
    """The i-th citizen's number; its last digit is i's, so the kinds interleave."""
    return f"139{i:08d}"


def planned(n: int) -> Counter[str]:
    return Counter(kind for i in range(n) for kind, digits in KINDS if number(i)[-1] in digits)


def seed(node: Node, n: int) -> None:
    """N replied tickets with a pending callback each, due now (the campaign is paused)."""
    settings = node.settings
    url = settings.get("database_url") or f"sqlite:///{Path(settings['data_dir']) / 'hotline.db'}"
    engine = create_engine(sync_url(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _busy_timeout(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=5000")

    now = utcnow()
    with Session(engine) as session, session.begin():
        for i in range(n):
            ticket = Ticket(
                state=TicketState.REPLIED,
                source="phone:12345",
                caller=number(i),
                dialled="12345",
                summary="回访节奏测试",
                department="市住房城乡建设委",
            )
            session.add(ticket)
            session.flush()
            session.add(
                Callback(
                    ticket_id=ticket.id,
                    round=1,
                    campaign=CAMPAIGN,
                    number=number(i),
                    status="pending",
                    next_attempt_at=now,
                )
            )
    engine.dispose()


@dataclass
class Measured:
    starts: list[float]
    ends: list[float]
    peak: int
    causes: Counter[str]
    app_peak: int
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, int] = field(default_factory=dict)


def callback_events(events: list[ObservedEvent], name: str) -> dict[str, ObservedEvent]:
    return {
        e.fields["Uniqueid"]: e
        for e in events
        if e.name == name and "-callback-" in e.fields.get("Uniqueid", "")
    }


def analyse(events: list[ObservedEvent], app_peak: int) -> Measured:
    new = callback_events(events, "Newchannel")
    gone = callback_events(events, "Hangup")
    steps = [(e.at, 1) for e in new.values()] + [
        (e.at, -1) for uid, e in gone.items() if uid in new
    ]
    level = peak = 0
    # At one instant a hang-up counts before a start: the slot was free by then.
    for _, step in sorted(steps):
        level += step
        peak = max(peak, level)
    causes = Counter(e.fields.get("Cause-txt", e.fields.get("Cause", "?")) for e in gone.values())
    return Measured(
        sorted(e.at for e in new.values()),
        sorted(e.at for e in gone.values()),
        peak,
        causes,
        app_peak,
    )


async def run(node: Node, n: int, channels: int, settle_s: float) -> Measured:
    monitor_path = "/api/callbacks/campaigns"

    def bench_row() -> dict[str, Any]:
        rows: list[dict[str, Any]] = api(node, monitor_path)
        return next(r for r in rows if r["name"] == CAMPAIGN)

    async with AmiObserver(*node.ami_login()) as ami:
        await asyncio.to_thread(api, node, f"/api/callbacks/campaigns/{CAMPAIGN}/pause", "POST")
        await asyncio.to_thread(seed, node, n)
        print(f"seeded {n} pending callbacks; resuming the campaign", flush=True)
        await asyncio.to_thread(api, node, f"/api/callbacks/campaigns/{CAMPAIGN}/resume", "POST")
        app_peak = 0
        idle_since: float | None = None
        deadline = time.monotonic() + n / 0.2 + 120  # a stuck dialler still ends the bench
        last_report = time.monotonic()
        while time.monotonic() < deadline:
            row = await asyncio.to_thread(bench_row)
            app_peak = max(app_peak, row["dialling_now"])
            statuses = row["statuses"]
            open_ = statuses["pending"] + statuses["dialling"]
            if time.monotonic() - last_report > 20:
                started = len(callback_events(ami.events, "Newchannel"))
                print(f"  {started}/{n} originated, {open_} open", flush=True)
                last_report = time.monotonic()
            if open_ == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > settle_s:  # last Hangups arrive
                    break
            await asyncio.sleep(0.25)
        else:
            print("timed out waiting for the campaign to finish", file=sys.stderr)
        measured = analyse(list(ami.events), app_peak)
        final = await asyncio.to_thread(bench_row)
    measured.outcomes = Counter(final["attempt_outcomes"])
    measured.statuses = final["statuses"]
    return measured


def rates(starts: list[float]) -> tuple[float, list[float]]:
    """Overall achieved rate, and the rate in each whole minute from the first start."""
    if len(starts) < 2:
        return 0.0, []
    overall = (len(starts) - 1) / (starts[-1] - starts[0])
    minutes = int((starts[-1] - starts[0]) // 60)
    per_minute = [
        sum(1 for t in starts if starts[0] + 60 * m <= t < starts[0] + 60 * (m + 1)) / 60
        for m in range(minutes)
    ]
    return overall, per_minute


def report(m: Measured, n: int, rate: float, channels: int) -> bool:
    achieved, per_minute = rates(m.starts)
    gaps = [b - a for a, b in zip(m.starts, m.starts[1:], strict=False)]
    ratio = achieved / rate
    rate_ok = abs(ratio - 1) <= TOLERANCE and len(m.starts) == n
    channels_ok = m.peak <= channels
    plan = planned(n)
    outcomes_ok = all(m.outcomes.get(kind, 0) == plan[kind] for kind, _ in KINDS)
    w = 44
    print()
    print(f"{'figure':{w}}{'measured':>12}{'configured':>12}{'ratio':>8}  verdict")
    print(
        f"{'originate rate /s (first→last start)':{w}}{achieved:>12.3f}{rate:>12.3f}"
        f"{ratio:>8.3f}  {'ok' if rate_ok else 'OFF BY > 5 %'}"
    )
    for i, r in enumerate(per_minute, 1):
        print(f"{f'  minute {i}':{w}}{r:>12.3f}{rate:>12.3f}{r / rate:>8.3f}")
    if gaps:
        print(
            f"{'gap between starts s (min / p50 / max)':{w}}"
            f"{f'{min(gaps):.2f}/{statistics.median(gaps):.2f}/{max(gaps):.2f}':>12}"
            f"{1 / rate:>12.2f}"
        )
    print(
        f"{'peak callback channels in Asterisk':{w}}{m.peak:>12}{channels:>12}"
        f"{m.peak / channels:>8.2f}  {'ok' if channels_ok else 'OVER THE LIMIT'}"
    )
    print(f"{'peak dialling_now (app monitor, sampled)':{w}}{m.app_peak:>12}{channels:>12}")
    print(f"{'callbacks originated / seeded':{w}}{len(m.starts):>12}{n:>12}")
    print()
    print(f"{'outcome (app attempt rows)':{w}}{'measured':>12}{'planned':>12}")
    for kind, digits in KINDS:
        label = f"{kind} (numbers ending {digits})"
        print(f"{label:{w}}{m.outcomes.get(kind, 0):>12}{plan[kind]:>12}")
    for other in sorted(set(m.outcomes) - {k for k, _ in KINDS}):
        print(f"{other:{w}}{m.outcomes[other]:>12}{0:>12}")
    print(f"{'hang-up causes (Asterisk)':{w}}{dict(m.causes)}")
    print(f"{'callback statuses (app)':{w}}{ {k: v for k, v in m.statuses.items() if v} }")
    print()
    verdict = rate_ok and channels_ok and outcomes_ok
    print(
        f"rate ratio {ratio:.3f} (±{TOLERANCE:.0%} allowed), peak {m.peak}/{channels} channels, "
        f"outcomes {'as planned' if outcomes_ok else 'NOT as planned'}: "
        f"{'PASS' if verdict else 'FAIL'}"
    )
    return verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes of dialling to seed")
    ap.add_argument("--rate", type=float, default=2.0, help="campaign max_rate, originates/s")
    ap.add_argument("--channels", type=int, default=8, help="campaign max_channels")
    ap.add_argument("--ring-seconds", type=int, default=5, help="ring time before no answer")
    ap.add_argument("--hold-ms", type=int, default=2000, help="answered calls last this long")
    args = ap.parse_args()
    if hints := missing_tools():
        raise SystemExit("bench needs: " + "; ".join(hints))
    n = round(args.minutes * 60 * args.rate) + 1
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-pacing-"))
    extra = campaign_toml(args.rate, args.channels, args.ring_seconds, NODE_TZ)
    node = start_node(work / "node", "pace", ["1001"], extra=extra)
    citizens = Citizens(
        work / "citizens",
        "127.0.0.2",
        int(node.settings["sip"]["carrier_port"]),
        calls=n,
        hold_ms=args.hold_ms,
        timeout_s=int(n / args.rate) + 600,
    ).start()
    try:
        print(
            f"node up (Asterisk {node.cli('core show version').split()[1]}); campaign "
            f"max_rate {args.rate}/s, max_channels {args.channels}, ring {args.ring_seconds} s; "
            f"{n} callbacks ≈ {args.minutes} min of dialling; work in {work}",
            flush=True,
        )
        measured = asyncio.run(run(node, n, args.channels, settle_s=3.0))
    finally:
        citizens.stop()
        stop_node(node)
    ok = report(measured, n, args.rate, args.channels)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

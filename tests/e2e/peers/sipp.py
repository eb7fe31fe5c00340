"""SIPp as the citizen's phone behind the carrier trunk (source address 127.0.0.2).

The scenario is written per call: it dials a service number, streams a pcap of speech as soon
as the call is answered (Asterisk answers before the greeting), holds the call for a given
time and hangs up with BYE — or, with ``hangup_after_ms`` set, hangs up while still queued.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_INVITE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="hotline citizen">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=citizen 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"{rrs}/>
  <send>
    <![CDATA[
      ACK {in_dialog_uri} SIP/2.0{routes}
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE {in_dialog_uri} SIP/2.0{routes}
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


# In-dialog requests straight to Asterisk, or through a record-routing proxy (the Kamailio
# front): then ACK and BYE go to the node's Contact, with the route set the 200 OK recorded.
_DIRECT = {"rrs": "", "in_dialog_uri": "sip:[service]@[remote_ip]:[remote_port]", "routes": ""}
_PROXIED = {"rrs": ' rrs="true"', "in_dialog_uri": "[next_url]", "routes": "\n      [routes]"}


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise RuntimeError("SIPp is missing: apt-get install -y sip-tester")
    return path


@dataclass
class SippCall:
    """One citizen call: ``start()`` it, ``wait()`` for SIPp's verdict."""

    workdir: Path
    service: str
    caller: str
    target: str  # host:port of Asterisk's PJSIP
    pcap: Path
    hold_ms: int
    local_ip: str = "127.0.0.2"
    through_proxy: bool = False  # the target is a record-routing proxy (the front)
    # Load runs: calls per second, total calls, and where SIPp writes its per-second stats.
    rate: float = 1
    calls: int = 1
    stats_file: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SippCall:
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self.workdir / "caller.xml"
        dialog = _PROXIED if self.through_proxy else _DIRECT
        scenario.write_text(
            _INVITE.format(caller=self.caller, pcap=self.pcap, hold_ms=self.hold_ms, **dialog)
        )
        self.proc = subprocess.Popen(
            [
                sipp_binary(),
                self.target,
                "-sf",
                str(scenario),
                "-s",
                self.service,
                "-i",
                self.local_ip,
                "-mi",
                self.local_ip,
                "-p",
                "0",
                "-mp",
                "0",
                "-m",
                str(self.calls),
                "-r",
                str(self.rate),
                "-rp",
                "1000",
                "-nostdin",
                "-timeout",
                f"{int(self.calls / self.rate + self.hold_ms / 1000) + 120}s",
                "-trace_err",
                "-error_file",
                str(self.workdir / "sipp.err"),
                *(
                    ["-trace_stat", "-stf", str(self.stats_file), "-fd", "1"]
                    if self.stats_file
                    else []
                ),
            ],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait(self, timeout: float) -> tuple[int, str]:
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, out.decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _serve(
    workdir: Path,
    scenario: Path,
    host: str,
    port: int,
    calls: int,
    timeout_s: int,
    media: bool = False,
) -> subprocess.Popen[bytes]:
    """SIPp as a phone waiting for ``calls`` calls on host:port (media on host too)."""
    return subprocess.Popen(
        [
            sipp_binary(),
            "-sf",
            str(scenario),
            "-i",
            host,
            *(["-mi", host, "-mp", "0"] if media else []),
            "-p",
            str(port),
            "-m",
            str(calls),
            "-nostdin",
            "-timeout",
            f"{timeout_s}s",
            "-trace_err",
            "-error_file",
            str(workdir / f"{scenario.stem}.err"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="centre answers">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{number}@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
{ring}  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{number}@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=centre 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="hangup"/>
</scenario>
"""


@dataclass
class SippAnswerer:
    """A centre's phone (e.g. 119): answers one call on host:port (after ringing ``ring_ms``)
    and waits for the BYE."""

    workdir: Path
    number: str
    host: str
    port: int
    hold_ms: int = 120_000
    ring_ms: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SippAnswerer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self.workdir / f"answer-{self.number}.xml"
        ring = f'  <pause milliseconds="{self.ring_ms}"/>\n' if self.ring_ms else ""
        scenario.write_text(_ANSWER.format(number=self.number, hold_ms=self.hold_ms, ring=ring))
        self.proc = _serve(
            self.workdir, scenario, self.host, self.port, 1, self.hold_ms // 1000 + 60, media=True
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_REFUSE_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="phone refuses">
  <recv request="INVITE" crlf="true"/>
"""
_BUSY = """  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
_RING = """  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="CANCEL" timeout="{ring_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      CSeq: [last_cseq_number] INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


@dataclass
class SippRefuser:
    """A citizen's phone that does not take the call: ``busy`` answers 486 at once, ``ring``
    rings until the caller gives up (CANCEL). Counts the INVITEs it got."""

    workdir: Path
    mode: str  # "busy" | "ring"
    host: str
    port: int
    calls: int = 1
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SippRefuser:
        self.workdir.mkdir(parents=True, exist_ok=True)
        body = _BUSY if self.mode == "busy" else _RING.format(ring_ms=300_000)
        scenario = self.workdir / f"refuse-{self.mode}.xml"
        scenario.write_text(_REFUSE_HEAD + body)
        self.proc = _serve(self.workdir, scenario, self.host, self.port, self.calls, 300)
        return self

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

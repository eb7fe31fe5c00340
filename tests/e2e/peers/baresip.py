"""baresip as an agent's softphone: registers as an agent, auto-answers, speaks a WAV file.

Every address is pinned to 127.0.0.1 (SIP and RTP) so media never leaves loopback.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module account.so
audio_source aufile,{wav}
audio_alert aufile,{wav}
rtp_ports {rtp_lo}-{rtp_hi}
"""


def baresip_binary() -> str:
    path = shutil.which("baresip")
    if path is None:
        raise RuntimeError("baresip is missing: apt-get install -y baresip-core")
    return path


class _BaresipProcess:
    """Runs baresip on ``workdir`` (config and accounts written there) and keeps its output."""

    workdir: Path
    proc: subprocess.Popen[str] | None
    lines: list[str]

    def _launch(self, ready: str, timeout: float, what: str) -> None:
        self.proc = subprocess.Popen(
            [baresip_binary(), "-f", str(self.workdir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait_for(ready, timeout):
            self.stop()
            raise RuntimeError(f"{what}:\n{self.output()}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float, *, after: int = 0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines[after:]):
                return True
            time.sleep(0.05)
        return False

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def stop(self) -> None:
        # Its console output stays beside the test's other files, for the post-mortem.
        with contextlib.suppress(OSError):
            (self.workdir / "baresip.log").write_text(self.output())
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class BaresipAgent(_BaresipProcess):
    workdir: Path
    agent_id: str
    password: str
    registrar: str  # host:port of Asterisk's PJSIP
    wav: Path
    sip_port: int
    rtp_ports: tuple[int, int]
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 15) -> BaresipAgent:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text(
            _CONFIG.format(
                sip_port=self.sip_port,
                wav=self.wav,
                rtp_lo=self.rtp_ports[0],
                rtp_hi=self.rtp_ports[1],
            )
        )
        (self.workdir / "accounts").write_text(
            f"<sip:{self.agent_id}@{self.registrar};transport=udp>;auth_pass={self.password};"
            "answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n"
        )
        self._launch("200 OK", timeout, f"agent {self.agent_id} did not register")
        return self


_CITIZEN_CONFIG = """poll_method epoll
sip_listen {host}:{sip_port}
net_interface {host}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module account.so
module menu.so
module ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
audio_source aufile,{wav}
audio_alert aufile,{wav}
rtp_ports {rtp_lo}-{rtp_hi}
"""


@dataclass
class BaresipCitizen(_BaresipProcess):
    """A citizen's phone behind the carrier (our outbound trunk points at host:sip_port): it
    auto-answers the hotline's call, speaks a WAV file and keys RFC 4733 DTMF on request
    (``sndcode`` over baresip's ctrl_tcp, netstring-framed JSON)."""

    workdir: Path
    number: str  # baresip refuses a call to any other user ("UA not found")
    host: str
    sip_port: int
    ctrl_port: int
    wav: Path
    rtp_ports: tuple[int, int]
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 15) -> BaresipCitizen:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text(
            _CITIZEN_CONFIG.format(
                host=self.host,
                sip_port=self.sip_port,
                ctrl_port=self.ctrl_port,
                wav=self.wav,
                rtp_lo=self.rtp_ports[0],
                rtp_hi=self.rtp_ports[1],
            )
        )
        (self.workdir / "accounts").write_text(
            f"<sip:{self.number}@{self.host}:{self.sip_port};transport=udp>;regint=0;"
            "answermode=auto;audio_codecs=PCMA,PCMU\n"
        )
        self._launch("baresip is ready", timeout, "citizen phone did not start")
        return self

    def command(self, command: str, params: str = "") -> dict[str, object]:
        """One ctrl_tcp command; returns baresip's JSON answer."""
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as conn:
            conn.sendall(str(len(body)).encode() + b":" + body + b",")
            data = b""
            while True:
                # Netstrings "<len>:<json>,"; baresip may send events before our answer.
                head, sep, rest = data.partition(b":")
                if sep and head.isdigit() and len(rest) > int(head):
                    message = json.loads(rest[: int(head)])
                    data = rest[int(head) + 1 :]
                    if message.get("response"):
                        answer: dict[str, object] = message
                        return answer
                    continue
                chunk = conn.recv(65536)
                if not chunk:
                    raise RuntimeError(f"baresip closed ctrl_tcp before answering {command}")
                data += chunk

    def key(self, digit: str) -> None:
        answer = self.command("sndcode", digit)
        if not answer.get("ok"):
            raise RuntimeError(f"baresip refused sndcode {digit}: {answer}")

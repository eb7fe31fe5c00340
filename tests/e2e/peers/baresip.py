"""baresip as an agent's softphone: registers as an agent, auto-answers, speaks a WAV file.

Every address is pinned to 127.0.0.1 (SIP and RTP) so media never leaves loopback.
"""

from __future__ import annotations

import shutil
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


@dataclass
class BaresipAgent:
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
        self.proc = subprocess.Popen(
            [baresip_binary(), "-f", str(self.workdir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait_for("200 OK", timeout):
            self.stop()
            raise RuntimeError(f"agent {self.agent_id} did not register:\n{self.output()}")
        return self

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

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

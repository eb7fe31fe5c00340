"""``hotline front render|up|down|status``: the Kamailio front of several nodes, on this host.

Renders the configuration (hotline.kamailio_config) into ``<data_dir>/front`` (or
``front.work_dir``), checks it with ``kamailio -c``, and runs Debian's ``kamailio`` binary in the
foreground of a process of its own (no daemon fork: its pid is the one we started, written to
``kamailio.pid``), logging to ``kamailio.log`` there. ``down`` stops exactly that pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from core.settings import Settings
from hotline.asterisk_ctl import _alive
from hotline.errors import SetupError
from hotline.kamailio_config import FrontFiles, dispatcher_list, render_cfg
from hotline.plan import load_plan
from hotline.service import stop_pid

INSTALL_HINT = "apt-get install -y kamailio"


def kamailio_binary() -> str:
    path = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/sbin")
    if path is None:
        raise SetupError(f"Kamailio is not installed: {INSTALL_HINT}")
    return path


class Front:
    def __init__(self, settings: Settings) -> None:
        if not settings.front.enabled:
            raise SetupError("no front configured: list the nodes in [front] nodes")
        self.settings = settings
        self.dir = settings.front_dir
        self.files = FrontFiles(
            cfg=str(self.dir / "kamailio.cfg"),
            dispatcher_list=str(self.dir / "dispatcher.list"),
            ctl_socket=str(self.dir / "kamailio_ctl"),
        )
        self.pid_file = self.dir / "kamailio.pid"
        self.log_file = self.dir / "kamailio.log"

    def render(self) -> Path:
        """Write and check the configuration; a config Kamailio refuses raises SetupError.

        ``kamailio -c`` parses and loads modules but runs no fixups: an unknown pseudo-variable
        (a module missing from loadmodule) only fails at start, which ``up`` reports."""
        self.dir.mkdir(parents=True, exist_ok=True)
        numbers = load_plan(self.settings).inbound_numbers()
        Path(self.files.cfg).write_text(render_cfg(self.settings.front, numbers, self.files))
        Path(self.files.dispatcher_list).write_text(dispatcher_list(self.settings.front))
        check = subprocess.run(
            [kamailio_binary(), "-c", "-f", self.files.cfg],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise SetupError(f"kamailio -c refused {self.files.cfg}:\n{check.stderr[-2000:]}")
        return Path(self.files.cfg)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def up(self, timeout: float = 10) -> int:
        if (pid := self.pid()) is not None:
            return pid
        self.render()
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as out:
            # -DD: stay in the foreground (the pid is ours to stop) but still fork the workers;
            # -E: log to stderr, i.e. the log file; -Y: its runtime files in the work dir.
            proc = subprocess.Popen(
                [kamailio_binary(), "-DD", "-E", "-f", self.files.cfg, "-Y", str(self.dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SetupError(f"kamailio exited with {proc.returncode}; see {self.log_file}")
            if self.rpc("core.uptime", timeout=2) is not None:
                return proc.pid
            time.sleep(0.1)
        raise SetupError(f"kamailio did not answer on {self.files.ctl_socket}; see {self.log_file}")

    def down(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def rpc(self, *command: str, timeout: float = 5) -> str | None:
        """A Kamailio RPC command over its control socket (kamcmd), or None if it is down."""
        kamcmd = shutil.which("kamcmd") or shutil.which("kamcmd", path="/usr/sbin:/sbin")
        if kamcmd is None:
            raise SetupError(f"kamcmd is missing: {INSTALL_HINT}")
        proc = subprocess.run(
            [kamcmd, "-s", f"unix:{self.files.ctl_socket}", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.stdout if proc.returncode == 0 else None

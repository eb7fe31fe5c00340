"""Start, stop and query this node's Asterisk inside the root, always by its pid file."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time

from core.private import ASTERISK_UMASK
from core.settings import Settings
from hotline.asterisk_config import Instance, write_instance
from hotline.errors import SetupError
from hotline.plan import load_plan
from hotline.root import AsteriskRoot

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


class AsteriskControl:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = AsteriskRoot(settings.asterisk.root)
        self.instance = Instance.of(settings)

    def pid(self) -> int | None:
        try:
            pid = int(self.instance.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def cli(self, command: str, timeout: float = 20) -> str:
        """Run one CLI command against this instance (``asterisk -rx``)."""
        proc = subprocess.run(
            self.root.chroot_cmd("asterisk", "-C", self.instance.conf_file, "-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise SetupError(f"asterisk -rx {command!r} failed: {proc.stderr.strip()}")
        return proc.stdout

    def configure(self) -> None:
        write_instance(
            self.settings,
            self.instance,
            self.root.module_dir(),
            self.root.asterisk_uid_gid(),
            load_plan(self.settings),
        )

    def start(self, timeout: float = 60) -> int:
        if (pid := self.pid()) is not None:
            log.info("Asterisk already running (pid %s)", pid)
            return pid
        self.root.check_asterisk_id(self.settings.asterisk.uid)
        self.root.ensure_proc()
        self.configure()
        subprocess.run(
            self.root.chroot_cmd(
                "asterisk", "-C", self.instance.conf_file, "-U", "asterisk", "-G", "asterisk"
            ),
            check=True,
            capture_output=True,
            umask=ASTERISK_UMASK,  # recordings and logs 0640: Asterisk's group, not others
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is not None:
                with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                    self.cli("core waitfullybooted", timeout=timeout)
                    pid = self.pid()
                    if pid is not None:
                        return pid
            time.sleep(0.2)
        raise SetupError(
            f"Asterisk did not start within {timeout:.0f} s; "
            f"see {self.instance.log_dir}/messages.log"
        )

    def reload(self) -> None:
        self.configure()
        self.cli("core reload")

    def stop(self, timeout: float = 20) -> bool:
        """Stop Asterisk by its pid; True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
            self.cli("core stop now", timeout=5)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            log.warning("Asterisk pid %s ignored 'core stop now'; sending SIGKILL", pid)
            os.kill(pid, signal.SIGKILL)
        return True

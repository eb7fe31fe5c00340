"""The Debian sid root file system that holds Asterisk 22 (DESIGN §3).

Debian stable has no Asterisk package; sid has Asterisk 22. ``ensure_root`` builds a minimal sid
root with debootstrap once and caches it (a marker file records what it installed); later calls
return at once. Asterisk runs inside it with ``chroot`` and shares the host's network, so its
SIP/AMI ports are reachable on loopback and its files are readable from the host.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from hotline.errors import SetupError

log = logging.getLogger(__name__)

PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-wav",
    "asterisk-moh-opsound-wav",
    "sip-tester",
)
MARKER = ".hotline-root"
# sid's Release files are replaced daily; a mirror that lags makes apt refuse them as expired.
APT_OPTS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Retries=3")


def _run(cmd: Sequence[str], what: str) -> None:
    log.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def require_root_user(what: str) -> None:
    if os.geteuid() != 0:
        raise SetupError(f"{what} needs root (debootstrap, chroot, mount): run it with sudo")


class AsteriskRoot:
    """A sid root at ``path``; ``chroot_cmd`` runs a command inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def ready(self) -> bool:
        marker = self.path / MARKER
        return marker.is_file() and marker.read_text().split() == list(PACKAGES)

    def host_path(self, inner: str) -> Path:
        """Where a path inside the root lives on the host."""
        return self.path / inner.lstrip("/")

    def chroot_cmd(self, *args: str) -> list[str]:
        return ["chroot", str(self.path), *args]

    def ensure_proc(self) -> None:
        proc = self.path / "proc"
        if not (proc / "self").exists():
            _run(["mount", "-t", "proc", "proc", str(proc)], "mounting /proc in the root")

    def module_dir(self) -> str:
        found = sorted(self.path.glob("usr/lib/*/asterisk/modules"))
        if not found:
            raise SetupError(f"no Asterisk modules under {self.path}/usr/lib: rebuild the root")
        return "/" + str(found[0].relative_to(self.path))

    def asterisk_uid_gid(self) -> tuple[int, int]:
        for line in (self.path / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "asterisk":
                return int(fields[2]), int(fields[3])
        raise SetupError("the root has no 'asterisk' user: rebuild it (hotline asterisk build)")

    def ensure(self, mirror: str | None = None) -> None:
        """Build the root unless it is already complete. Idempotent; about a minute."""
        if self.ready:
            return
        require_root_user("building the Asterisk root")
        if shutil.which("debootstrap") is None:
            raise SetupError("debootstrap is missing: apt-get install -y debootstrap")
        if not (self.path / "usr/bin/apt-get").exists():
            if self.path.exists():
                self.release()
                shutil.rmtree(self.path)  # a half-built root from an interrupted run
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cmd = ["debootstrap", "--variant=minbase", "sid", str(self.path)]
            if mirror:
                cmd.append(mirror)
            _run(cmd, "debootstrap of Debian sid")
        self.ensure_proc()
        _run(self.chroot_cmd("apt-get", *APT_OPTS, "update"), "apt-get update in the root")
        _run(
            self.chroot_cmd(
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                *APT_OPTS,
                "install",
                "-y",
                "--no-install-recommends",
                *PACKAGES,
            ),
            "installing Asterisk 22 into the root",
        )
        (self.path / MARKER).write_text(" ".join(PACKAGES) + "\n")

    def version(self) -> str:
        out = subprocess.run(
            self.chroot_cmd("asterisk", "-V"), capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    def release(self) -> None:
        """Unmount what ensure() mounted (before deleting the root)."""
        proc = self.path / "proc"
        if (proc / "self").exists():
            subprocess.run(["umount", "-l", str(proc)], check=False)

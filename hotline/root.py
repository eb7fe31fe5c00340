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
import socket
import stat
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
    # debootstrap and apt make a system: its files are for every user of the root
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, umask=0o022)
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

    def check_asterisk_id(self, ident: int) -> None:
        """Refuse to run Asterisk under ids other than ``ident`` (``hotline install`` sets them)."""
        if self.asterisk_uid_gid() != (ident, ident):
            raise SetupError(
                f"the root's asterisk user is not uid/gid {ident} (asterisk.uid): "
                "run `hotline install`"
            )

    def ensure_asterisk_id(self, ident: int, host_etc: Path = Path("/etc")) -> bool:
        """Give the root's ``asterisk`` user and group the id ``ident`` and re-own their files,
        so Asterisk runs as no host account (the root's own 101 is often the host's postgres).

        Idempotent and quick when done; True if it changed the root. Files are re-owned before
        the account files are rewritten, so an interrupted run is finished by the next one.
        """
        clash = [f"user {n}" for n, i in _accounts(host_etc / "passwd") if i == ident]
        clash += [f"group {n}" for n, i in _accounts(host_etc / "group") if i == ident]
        if clash:
            raise SetupError(
                f"uid/gid {ident} for the root's asterisk user is the host's {', '.join(clash)}:"
                " choose a free one with the setting asterisk.uid"
            )
        uid, gid = self.asterisk_uid_gid()
        if (uid, gid) == (ident, ident):
            return False
        passwd, group = self.path / "etc/passwd", self.path / "etc/group"
        taken = [n for n, i in _accounts(passwd) if i == ident and n != "asterisk"]
        taken += [n for n, i in _accounts(group) if i == ident and n != "asterisk"]
        if taken:
            raise SetupError(f"uid/gid {ident} is taken in the root by {taken}: set asterisk.uid")
        if running := self._processes_as(uid):
            raise SetupError(
                f"Asterisk runs in {self.path} as uid {uid} (pids {running}): stop every node "
                "using this root (hotline down), then run `hotline install` again"
            )
        log.info("re-owning the root's asterisk files: uid %s gid %s -> %s", uid, gid, ident)
        for path in _walk_one_fs(self.path):
            st = path.lstat()
            new_uid = ident if st.st_uid == uid else -1
            new_gid = ident if st.st_gid == gid else -1
            if (new_uid, new_gid) != (-1, -1):
                os.lchown(path, new_uid, new_gid)
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not path.is_symlink():
                    os.chmod(path, stat.S_IMODE(st.st_mode))  # chown cleared them
        _set_id(passwd, "asterisk", {2: uid, 3: gid}, ident)
        _set_id(group, "asterisk", {2: gid}, ident)
        return True

    def ensure_host_name(self, name: str | None = None) -> bool:
        """Make the host's name resolve inside the root (its /etc/hosts), as it does on the
        host. Otherwise Asterisk, finding its own address for media on a wildcard bind
        (acl.c ast_find_ourip), asks DNS for the name and then for A.ROOT-SERVERS.NET on
        every call. True if it added the line."""
        name = name or socket.gethostname()
        hosts = self.path / "etc/hosts"
        if not hosts.parent.is_dir():
            return False  # no system in the root (yet)
        text = hosts.read_text() if hosts.exists() else ""
        if any(name in line.split("#")[0].split()[1:] for line in text.splitlines()):
            return False
        try:
            address = socket.gethostbyname(name)  # the host's own answer
        except OSError:
            address = "127.0.1.1"  # Debian's address for the machine's own name
        if text and not text.endswith("\n"):
            text += "\n"
        hosts.write_text(f"{text}{address}\t{name}\t# hotline: this host, without DNS\n")
        hosts.chmod(0o644)
        return True

    def _processes_as(self, uid: int) -> list[int]:
        """Processes of ``uid`` whose root directory is this root."""
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                here = os.readlink(proc / "root") == str(self.path.resolve())
                if here and proc.stat().st_uid == uid:
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def ensure(self, mirror: str | None = None, asterisk_id: int | None = None) -> None:
        """Build the root unless it is already complete (about a minute), then give its
        asterisk user ``asterisk_id`` (:meth:`ensure_asterisk_id`). Idempotent."""
        if not self.ready:
            self._build(mirror)
        if asterisk_id is not None:
            self.ensure_asterisk_id(asterisk_id)
        self.ensure_host_name()

    def _build(self, mirror: str | None) -> None:
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


def _accounts(path: Path) -> list[tuple[str, int]]:
    """(name, id) of every entry of a passwd or group file."""
    out = []
    for line in path.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            out.append((fields[0], int(fields[2])))
    return out


def _set_id(path: Path, name: str, old: dict[int, int], new: int) -> None:
    """Set fields (index → old value) of ``name``'s entry in a passwd/group file to ``new``."""
    lines = path.read_text().splitlines(keepends=True)
    for n, line in enumerate(lines):
        fields = line.rstrip("\n").split(":")
        if fields[0] == name:
            for index, value in old.items():
                if int(fields[index]) == value:
                    fields[index] = str(new)
            lines[n] = ":".join(fields) + "\n"
    tmp = path.with_name(path.name + ".hotline")
    tmp.write_text("".join(lines))
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


def _walk_one_fs(top: Path) -> list[Path]:
    """Every path below ``top`` on its file system (not into /proc mounted in the root)."""
    dev = top.stat().st_dev
    out = [top]
    for dirpath, dirnames, filenames in os.walk(top):
        keep = []
        for d in dirnames:
            p = Path(dirpath, d)
            out.append(p)
            if not p.is_symlink() and p.stat().st_dev == dev:
                keep.append(d)
        dirnames[:] = keep
        out.extend(Path(dirpath, f) for f in filenames)
    return out

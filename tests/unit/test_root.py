"""The Asterisk root builder's guard rails: clear messages before anything is touched."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hotline.errors import SetupError
from hotline.root import MARKER, PACKAGES, AsteriskRoot


def test_not_root_gets_the_sudo_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)  # pretend to be an ordinary user
    with pytest.raises(SetupError, match=r"needs root .* run it with sudo"):
        AsteriskRoot(tmp_path / "root").ensure()
    assert not (tmp_path / "root").exists()


def test_missing_debootstrap_gets_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without debootstrap
    with pytest.raises(SetupError, match="apt-get install -y debootstrap"):
        AsteriskRoot(tmp_path / "root").ensure()


def test_a_complete_root_is_reused_without_any_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / MARKER).write_text(" ".join(PACKAGES) + "\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing could run
    AsteriskRoot(root).ensure()
    assert AsteriskRoot(root).ready


def test_a_root_with_other_packages_is_not_ready(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("asterisk\n")
    assert not AsteriskRoot(tmp_path).ready


def test_paths_inside_the_root(tmp_path: Path) -> None:
    root = AsteriskRoot(tmp_path)
    assert root.host_path("/srv/hotline/x") == tmp_path / "srv/hotline/x"
    assert root.chroot_cmd("asterisk", "-V") == ["chroot", str(tmp_path), "asterisk", "-V"]
    with pytest.raises(SetupError, match="no Asterisk modules"):
        root.module_dir()


def _fake_root(tmp_path: Path) -> tuple[AsteriskRoot, Path]:
    """A root whose asterisk user is 101/101 (as sid makes it), and a host /etc."""
    root, host = tmp_path / "root", tmp_path / "host-etc"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "asterisk:x:101:101:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin\n"
    )
    (root / "etc/group").write_text("root:x:0:\naudio:x:29:asterisk\nasterisk:x:101:\n")
    (root / "var/spool").mkdir(parents=True)
    (root / "var/spool/monitor.wav").write_text("")
    host.mkdir()
    (host / "passwd").write_text("root:x:0:0::/root:/bin/bash\npostgres:x:101:104::/:/bin/sh\n")
    (host / "group").write_text("root:x:0:\n_ssh:x:101:\n")
    return AsteriskRoot(root), host


def test_the_asterisk_user_gets_an_id_no_host_account_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, host = _fake_root(tmp_path)
    owners = {p: (101, 101) for p in (root.path / "var/spool", root.path / "var/spool/monitor.wav")}
    chowned: dict[Path, tuple[int, int]] = {}

    class Stat:
        def __init__(self, path: Path) -> None:
            self.st_uid, self.st_gid = owners.get(path, (0, 0))
            self.st_mode = 0o100644

    monkeypatch.setattr(Path, "lstat", lambda self: Stat(self))
    monkeypatch.setattr("os.lchown", lambda p, u, g: chowned.__setitem__(Path(p), (u, g)))

    with pytest.raises(SetupError, match="stop every node"):
        monkeypatch.setattr(AsteriskRoot, "_processes_as", lambda self, uid: [4242])
        root.ensure_asterisk_id(61345, host)
    assert chowned == {} and root.asterisk_uid_gid() == (101, 101)
    monkeypatch.setattr(AsteriskRoot, "_processes_as", lambda self, uid: [])

    assert root.ensure_asterisk_id(61345, host) is True
    assert chowned == dict.fromkeys(owners, (61345, 61345))
    assert root.asterisk_uid_gid() == (61345, 61345)
    assert "asterisk:x:61345:" in (root.path / "etc/group").read_text()
    assert "audio:x:29:asterisk" in (root.path / "etc/group").read_text()
    root.check_asterisk_id(61345)
    chowned.clear()
    assert root.ensure_asterisk_id(61345, host) is False  # done: nothing walked or changed
    assert chowned == {}
    with pytest.raises(SetupError, match="run `hotline install`"):
        root.check_asterisk_id(101)


def test_an_id_a_host_account_uses_is_refused(tmp_path: Path) -> None:
    root, host = _fake_root(tmp_path)
    with pytest.raises(SetupError, match=r"host's user postgres.*asterisk\.uid"):
        root.ensure_asterisk_id(101, host)
    with (host / "group").open("a") as fh:
        fh.write("hotline:x:61345:\n")
    with pytest.raises(SetupError, match="host's group hotline"):
        root.ensure_asterisk_id(61345, host)
    assert root.asterisk_uid_gid() == (101, 101)


def test_the_host_name_resolves_in_the_root_without_dns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once, beside what is there; the host's own answer for its name, else 127.0.1.1."""
    root, _ = _fake_root(tmp_path)
    hosts = root.path / "etc/hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost")
    monkeypatch.setattr("socket.gethostname", lambda: "vm")

    def gethostbyname(name: str) -> str:
        if name != "vm":
            raise socket.gaierror(-2, "Name or service not known")
        return "10.0.0.5"

    monkeypatch.setattr("socket.gethostbyname", gethostbyname)
    assert root.ensure_host_name() is True
    assert root.ensure_host_name() is False
    lines = hosts.read_text().splitlines()
    assert lines[:2] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost"]
    assert lines[2].split()[:2] == ["10.0.0.5", "vm"] and len(lines) == 3
    assert root.ensure_host_name("db1") is True  # the host cannot resolve it either
    assert hosts.read_text().splitlines()[3].split()[:2] == ["127.0.1.1", "db1"]

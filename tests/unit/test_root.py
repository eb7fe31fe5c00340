"""The Asterisk root builder's guard rails: clear messages before anything is touched."""

from __future__ import annotations

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

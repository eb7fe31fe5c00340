"""Citizens' data stays the service's: the data folder and its files lose group and other
access (core.private), at install and whenever the node starts."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.private import make_private
from hotline import service
from tests.conftest import EXAMPLE_PLAN


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """An ordinary shell's umask, under which the node's files used to come out 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_make_private_takes_group_and_other_access_away(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "log").mkdir(parents=True, mode=0o755)
    for name in ("hotline.db", "hotline.db-wal", "runtime.json", "log/app.log"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    (data / "run.sh").write_text("x")
    (data / "run.sh").chmod(0o755)
    outside = tmp_path / "shared.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)
    data.chmod(0o755)
    make_private(data)
    assert mode(data) == mode(data / "log") == 0o700
    assert {mode(data / n) for n in ("hotline.db", "hotline.db-wal", "runtime.json")} == {0o600}
    assert mode(data / "log/app.log") == 0o600 and mode(data / "run.sh") == 0o700
    assert mode(outside) == 0o644  # a link is not followed


def test_install_leaves_nothing_readable_by_others(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "_prompts", lambda settings, ctl: None)  # espeak-ng: e2e
    data = tmp_path / "data"
    config = tmp_path / "hotline.toml"
    config.write_text(f'data_dir = "{data}"\n[asterisk]\nroot = "{tmp_path / "root"}"\n')
    service.install(config, with_root=False)
    files = [data / n for n in ("hotline.db", "numberplan.toml", "agent-secrets.toml")]
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert (data / "numberplan.toml").read_text() == EXAMPLE_PLAN.read_text()

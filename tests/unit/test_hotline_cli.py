"""The `hotline` command's own output (the services behind it are stubbed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from hotline import cli, service

DESC: dict[str, Any] = {
    "node_id": "n1",
    "sip": {"host": "h", "port": 1, "uri": "sip:12345@h:1", "carrier_source": "c"},
    "agents": [{"id": "1001", "secret_in": "/d/agent-secrets.toml"}],
    "api": {"url": "u", "token_in": "t", "agent_ws": "ws", "desk": "d", "wallboard": "w"},
    "ami": {"host": "h", "port": 2},
    "fastagi": {"host": "h", "port": 3},
    "recordings_dir": "/r",
    "data_dir": "/d",
}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    done: list[str] = []
    monkeypatch.setattr(service, "install", lambda *a, **k: done.append("install"))
    monkeypatch.setattr(service, "up", lambda *a: done.append("up") or DESC)
    return done


def test_install_alone_says_what_comes_next(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["--config", str(tmp_path / "h.toml"), "install"]) == 0
    assert calls == ["install"]
    assert "start the node with: hotline up" in capsys.readouterr().out


def test_install_up_starts_the_node_without_telling_the_operator_to(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """./run installs and starts in one go: no "start the node with" line before the summary."""
    assert cli.run(["--config", str(tmp_path / "h.toml"), "install", "--up"]) == 0
    assert calls == ["install", "up"]
    out = capsys.readouterr().out
    assert "hotline up" not in out and "12345 hotline node n1 is up." in out


def test_runtime_description_names_the_number_plan_and_the_carrier_port(
    settings: Settings,
) -> None:
    desc = service.runtime_description(settings, settings.data_dir / "hotline.toml")
    assert desc["number_plan"] == str(settings.number_plan_file)
    assert desc["sip"]["carrier_port"] == settings.sip.carrier_port == 5060
    assert desc["sip"]["carrier_source"] == "127.0.0.2"

"""The `hotline` command's own output (the services behind it are stubbed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings, SettingsError
from hotline import cli, service
from hotline.errors import SetupError
from tests.conftest import EXAMPLE_PLAN, TEST_SECRET, TEST_TOKEN

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


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "hotline.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nnumber_plan = "{EXAMPLE_PLAN}"\n'
        f'[ami]\nsecret = "{TEST_SECRET}"\n[api]\ntoken = "{TEST_TOKEN}"\n{extra}'
    )
    return config


def test_reload_refuses_a_bad_edit_before_touching_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's own start-up checks run first, in a throwaway process: a missing speech
    model (a check only the app makes) leaves Asterisk and the running app alone."""
    touched: list[str] = []
    monkeypatch.setattr(service, "stop_pid", lambda *a: touched.append("stop app"))
    monkeypatch.setattr(service, "start_app", lambda *a: touched.append("start app") or 1)
    monkeypatch.setattr(service, "_prompts", lambda *a: touched.append("prompts"))
    monkeypatch.setattr(
        service.AsteriskControl, "reload", lambda self: touched.append("core reload")
    )
    service.check_app(_config(tmp_path))  # the good settings pass
    bad = _config(tmp_path, '[transcription]\nmodel = "no-such-model"\n')
    with pytest.raises(SetupError, match=r"(?s)nothing was changed:\n.*transcription\.model"):
        service.reload(bad)
    with pytest.raises(SettingsError, match="max_channels"):
        service.reload(_config(tmp_path, "[[callbacks.campaigns]]\nname = 'x'\nmax_channels = 0\n"))
    assert touched == []

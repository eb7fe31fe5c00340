"""Settings: validated at start-up, failing fast with a message that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from hotline.service import ensure_config


def write(tmp: Path, text: str) -> Path:
    p = tmp / "hotline.toml"
    p.write_text(text)
    return p


GOOD = """
[ami]
secret = "a-generated-secret-0123456789xyz"
[api]
token = "a-generated-token-0123456789xyzw"
"""


def test_minimal_file_gives_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert (s.sip.port, s.ami.port, s.agi.port) == (15060, 15038, 14573)
    assert s.ami.host == "127.0.0.1"
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("hotline.db")
    assert s.timezone == "Asia/Shanghai"


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="hotline install"):
        load_settings(tmp_path / "nope.toml")


def test_missing_secrets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"ami: Field required.*api: Field required"):
        load_settings(write(tmp_path, "node_id = 'n1'\n"))


@pytest.mark.parametrize("weak", ["changeme", "short-secret"])
def test_weak_secrets_are_refused(tmp_path: Path, weak: str) -> None:
    text = GOOD.replace("a-generated-secret-0123456789xyz", weak)
    with pytest.raises(SettingsError, match=r"ami\.secret.*at least 24"):
        load_settings(write(tmp_path, text))


def test_ami_must_stay_on_loopback(tmp_path: Path) -> None:
    text = GOOD.replace("[ami]\n", '[ami]\nhost = "0.0.0.0"\n')
    with pytest.raises(SettingsError, match=r"ami\.host must listen on a loopback address"):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('timezone = "Mars/Olympus"', "unknown time zone"),
        ('agents = ["1001", "1001"]', "unique"),
        ('agents = ["alice"]', "3-6 digits"),
        ("bogus = 1", "bogus: Extra inputs are not permitted"),
        ("[sip]\nrtp_start = 30000\nrtp_end = 20000", "rtp_start must be below"),
        ('[sip]\ncarrier_address = "127.0.0.1"', "carrier_address must differ"),
        ("[sip]\nport = 70000", "sip.port"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, extra + "\n" + GOOD))


def test_not_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[ami\nsecret="))


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_SIP__PORT", "25060")
    monkeypatch.setenv("HOTLINE_NODE_ID", "node7")
    s = load_settings(write(tmp_path, GOOD))
    assert (s.sip.port, s.node_id) == (25060, "node7")


def test_install_generates_secrets_once_and_keeps_the_operators_values(tmp_path: Path) -> None:
    path = write(tmp_path, 'node_id = "n9"\n')
    assert ensure_config(path) == ["ami.secret", "api.token", "intake.channels[web].secret"]
    first = load_settings(path)
    assert first.node_id == "n9"
    (web,) = first.intake.channels
    assert (web.name, web.kind, web.auth) == ("web", "web", "hmac")
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_config(path) == []
    again = load_settings(path)
    assert again.ami.secret == first.ami.secret and again.api.token == first.api.token
    assert again.intake.channels[0].secret == web.secret
    other = tmp_path / "other.toml"
    ensure_config(other)
    assert load_settings(other).ami.secret != first.ami.secret


def test_webrtc_agents_must_be_agents(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from tests.conftest import make_settings

    with pytest.raises(ValidationError, match=r"webrtc\.agents \['4242'\]"):
        make_settings(tmp_path, webrtc={"agents": ["4242"]})


def test_bus_defaults_to_in_process_and_redis_needs_a_url(tmp_path: Path) -> None:
    from app.runtime import make_bus
    from core.bus import InProcessBus
    from core.redis_bus import RedisStreamBus

    s = load_settings(write(tmp_path, GOOD))
    assert s.bus.engine == "memory" and isinstance(make_bus(s), InProcessBus)
    with pytest.raises(SettingsError, match=r"bus\.url is required"):
        load_settings(write(tmp_path, GOOD + '[bus]\nengine = "redis"\n'))
    with pytest.raises(SettingsError, match=r"bus\.url must be a redis://"):
        load_settings(write(tmp_path, GOOD + '[bus]\nurl = "http://x"\n'))
    s = load_settings(
        write(tmp_path, GOOD + '[bus]\nengine = "redis"\nurl = "redis://127.0.0.1:6379/0"\n')
    )
    bus = make_bus(s)
    assert isinstance(bus, RedisStreamBus)
    assert bus.stream == "hotline:events" and bus.consumer.startswith("node1:")

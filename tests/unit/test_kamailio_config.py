"""The front's Kamailio configuration (hotline.kamailio_config): what the settings say is in the
rendered text, and Debian's real ``kamailio -c`` accepts the file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from core.settings import FrontSettings, SettingsError, load_settings
from hotline.kamailio_config import FrontFiles, dispatcher_list, render_cfg

NODES = ["127.0.0.1:15060", "127.0.0.1:15160"]


def front(**changes: object) -> FrontSettings:
    values: dict[str, object] = {
        "listen": "127.0.0.2",
        "port": 25060,
        "nodes": NODES,
        "carrier_sources": ["127.0.0.6", "10.8.0.0/16"],
        "probe_interval": 3,
        "probe_threshold": 2,
    }
    values.update(changes)
    return FrontSettings.model_validate(values)


def files(tmp: Path) -> FrontFiles:
    return FrontFiles(
        cfg=str(tmp / "kamailio.cfg"),
        dispatcher_list=str(tmp / "dispatcher.list"),
        ctl_socket=str(tmp / "kamailio_ctl"),
    )


def test_config_says_what_the_settings_say(tmp_path: Path) -> None:
    cfg = render_cfg(front(), ["12345", "12369"], files(tmp_path))
    assert "listen=udp:127.0.0.2:25060" in cfg
    assert 'modparam("dispatcher", "ds_ping_interval", 3)' in cfg
    assert 'modparam("dispatcher", "ds_probing_threshold", 2)' in cfg
    assert 'modparam("dispatcher", "ds_probing_mode", 1)' in cfg
    assert 'modparam("tm", "fr_timer", 2000)' in cfg
    assert f'"list_file", "{tmp_path}/dispatcher.list"' in cfg
    assert 'ds_select_dst("1", "4")' in cfg  # round-robin
    assert "src_ip == 127.0.0.6/32 || src_ip == 10.8.0.0/16" in cfg
    assert '"^(12345|12369)$"' in cfg
    for piece in ("record_route()", "sanity_check(", "mf_process_maxfwd_header(", "ds_next_dst()"):
        assert piece in cfg
    hashed = render_cfg(front(algorithm="call-id"), ["12345"], files(tmp_path))
    assert 'ds_select_dst("1", "0")' in hashed


AGENTS_THROUGH = {
    "agent_listen": "127.0.0.3",
    "agent_port": 25061,
    "agent_sources": ["10.9.0.0/16"],
}


def test_agents_through_the_front_go_to_a_home_node(tmp_path: Path) -> None:
    assert "route(AGENTS)" not in render_cfg(front(), ["12345"], files(tmp_path))
    cfg = render_cfg(front(**AGENTS_THROUGH), ["12345"], files(tmp_path))
    # The carrier's socket first (the default sender, probes included), the agents' second.
    assert cfg.index("listen=udp:127.0.0.2:25060") < cfg.index("listen=udp:127.0.0.3:25061")
    agents = cfg.split("route[AGENTS] {")[1]
    assert 'if ($Ri == "127.0.0.3" && $Rp == 25061) {\n        route(AGENTS);' in cfg
    # A node reaches its agent only from its own address and port, only with a Route.
    assert agents.index('ds_is_from_list("1")') < agents.index('is_present_hf("Route")')
    assert "src_ip == 10.9.0.0/16" in agents
    assert "record_route()" in agents
    assert 'ds_select_dst("1", "1")' in agents  # the hash over the From URI: a home node
    relay = cfg.split("route[RELAY] {")[1].split("\n}")[0]
    assert "force_send_socket(udp:127.0.0.3:25061)" in relay


def test_dispatcher_list_has_every_node() -> None:
    text = dispatcher_list(front())
    assert "1 sip:127.0.0.1:15060 0 0" in text
    assert "1 sip:127.0.0.1:15160 0 0" in text


def test_kamailio_accepts_the_rendered_config(tmp_path: Path) -> None:
    kamailio = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin")
    if kamailio is None:
        pytest.fail("Kamailio is missing: apt-get install -y kamailio")
    f = files(tmp_path)
    for settings in (front(), front(**AGENTS_THROUGH)):
        Path(f.cfg).write_text(render_cfg(settings, ["12345", "12369"], f))
        Path(f.dispatcher_list).write_text(dispatcher_list(settings))
        check = subprocess.run([kamailio, "-c", "-f", f.cfg], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr[-3000:]


def test_no_front_by_default_and_bad_front_settings_fail_fast(tmp_path: Path) -> None:
    secrets = (
        '[ami]\nsecret = "a-generated-secret-0123456789xyz"\n'
        '[api]\ntoken = "a-generated-token-0123456789xyzw"\n'
    )
    config = tmp_path / "hotline.toml"
    config.write_text(secrets)
    assert not load_settings(config).front.enabled
    for bad, message in (
        ('nodes = ["127.0.0.1"]\ncarrier_sources = ["127.0.0.6"]', "host:port"),
        ('nodes = ["127.0.0.1:15060"]', "carrier_sources is required"),
        ('nodes = ["127.0.0.1:15060"]\ncarrier_sources = ["nowhere"]', "carrier_sources"),
        (
            'nodes = ["127.0.0.1:15060"]\ncarrier_sources = ["127.0.0.6"]\nlisten = "127.0.0.7"',
            "must equal sip.carrier_address",
        ),
        (
            'nodes = ["127.0.0.1:15060"]\ncarrier_sources = ["127.0.0.6"]\nprobe_interval = 0',
            "probe_interval",
        ),
        (
            'nodes = ["127.0.0.1:15060"]\ncarrier_sources = ["127.0.0.6"]\n'
            'agent_listen = "127.0.0.2"\nagent_sources = ["127.0.0.1"]',
            "must differ from front.listen",
        ),
        (
            'nodes = ["127.0.0.1:15060"]\ncarrier_sources = ["127.0.0.6"]\n'
            'agent_listen = "127.0.0.3"',
            "agent_sources is required",
        ),
        ('agent_listen = "127.0.0.3"\nagent_sources = ["127.0.0.1"]', "needs front.nodes"),
    ):
        config.write_text(secrets + "[front]\n" + bad + "\n")
        with pytest.raises(SettingsError, match=message):
            load_settings(config)
    with pytest.raises(ValueError, match="no \\[front\\] nodes"):
        render_cfg(FrontSettings(), ["12345"], files(tmp_path))

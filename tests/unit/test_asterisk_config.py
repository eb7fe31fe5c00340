"""The rendered Asterisk configuration: per-node values land where Asterisk reads them, no
secret is committed, and the security defaults hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.settings import Settings
from hotline.asterisk_config import (
    AMI_EVENTS,
    REPO_CONF,
    Instance,
    ensure_agent_secrets,
    render,
    write_instance,
)
from hotline.errors import SetupError
from ivr.numberplan import load_number_plan
from tests.conftest import EXAMPLE_PLAN, TEST_SECRET, make_settings

PLAN = load_number_plan(EXAMPLE_PLAN)


@pytest.fixture
def rendered(settings: Settings) -> dict[str, str]:
    return _render(settings)


def test_committed_files_hold_no_secret_or_address() -> None:
    for conf in REPO_CONF.glob("*.conf"):
        text = conf.read_text()
        assert not re.search(r"^\s*(secret|password)\s*=", text, re.M), conf.name
        assert not re.search(r"^\s*bind(addr)?\s*=", text, re.M), conf.name


def test_instance_directories_are_used(rendered: dict[str, str], settings: Settings) -> None:
    conf = rendered["asterisk.conf"]
    assert "[directories]\n" in conf  # "(!)" would make it a template Asterisk ignores
    assert "astspooldir => /srv/hotline/unit/spool" in conf
    assert "astrundir => /srv/hotline/unit/run" in conf
    inst = Instance.of(settings)
    assert inst.recordings == settings.asterisk.root / "srv/hotline/unit/spool/monitor"
    assert inst.recordings == settings.recordings_dir  # what the app reads from
    assert inst.inner == "/srv/hotline/unit"


def test_ami_is_loopback_least_privilege_with_screen_pop_vars(rendered: dict[str, str]) -> None:
    ami = rendered["generated/manager.conf"]
    assert "bindaddr=127.0.0.1" in ami
    assert f"secret={TEST_SECRET}" in ami
    assert "deny=0.0.0.0/0.0.0.0" in ami and "permit=127.0.0.1/255.255.255.255" in ami
    assert "channelvars=TICKET_ID,HOTLINE_CALL_ID,HOTLINE_CATEGORY,HOTLINE_DNIS" in ami
    assert re.search(r"^eventfilter=Event: \(.*AgentConnect.*\)$", ami, re.M)
    assert "webenabled=no" in ami


def test_events_nobody_reads_are_switched_off_for_every_session(
    rendered: dict[str, str],
) -> None:
    ami = rendered["generated/manager.conf"]
    general = ami.split("\n[", 1)[0]  # disabledevents is a [general] option
    (line,) = [x for x in general.splitlines() if x.startswith("disabledevents=")]
    disabled = set(line.removeprefix("disabledevents=").split(","))
    assert {"Newexten", "VarSet", "AGIExecStart", "RTCPSent"} <= disabled
    # Never one the CTI's own filter lets through (the tests' observers wait only for these).
    assert not disabled & set(AMI_EVENTS)


def _render(settings: Settings) -> dict[str, str]:
    ensure_agent_secrets(settings)
    return render(
        settings, Instance.of(settings), "/usr/lib/x86_64-linux-gnu/asterisk/modules", PLAN
    )


def test_desk_logins_leave_queues_without_members(rendered: dict[str, str]) -> None:
    """Dynamic members (the default): agents join with QueueAdd when they log in at the desk;
    wrap-up is the app's pause, so Asterisk's own is off."""
    queues = rendered["generated/queues.conf"]
    assert "member =>" not in queues
    assert "wrapuptime=0" in queues and "wrapuptime=10" not in queues


def test_agents_get_endpoints_and_queue_membership(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, agent_states={"members": "static"})
    rendered = _render(settings)
    secrets = ensure_agent_secrets(settings)
    agents = rendered["generated/pjsip_agents.conf"]
    queues = rendered["generated/queues.conf"]
    for agent in settings.agents:
        assert f"[{agent}](agent-endpoint)" in agents
        assert f"password={secrets[agent]}" in agents
        assert f"member => PJSIP/{agent},0,{agent},PJSIP/{agent}" in queues
    assert len(set(secrets.values())) == len(secrets)
    assert (
        "wrapuptime=10" in queues and "periodic-announce=/srv/hotline/unit/prompts/hold" in queues
    )


def test_carrier_identified_by_its_own_address(
    rendered: dict[str, str], settings: Settings
) -> None:
    assert "match=127.0.0.2/32" in rendered["generated/pjsip_carrier.conf"]
    assert "bind=127.0.0.1:15060" in rendered["generated/pjsip_transports.conf"]
    assert (
        f"FASTAGI=agi://127.0.0.1:{settings.agi.port}"
        in rendered["generated/extensions_globals.conf"]
    )


def test_dialplan_falls_through_when_fastagi_fails() -> None:
    """With no HOTLINE_ROUTE (FastAGI down or failed) every branch after the AGI step is
    skipped: the caller hears the 12345 greeting and reaches the main queue."""
    ext = (REPO_CONF / "extensions.conf").read_text()
    inbound = ext.split("[hotline-inbound]")[1].split("\n[")[0]
    steps = [
        line.split(",", 1)[1]
        for line in inbound.splitlines()
        if line.strip().startswith(("exten", "same"))
    ]
    agi = next(i for i, s in enumerate(steps) if "AGI(${FASTAGI}/inbound)" in s)
    path = []
    for step in steps[agi + 1 :]:
        if step.startswith("GotoIf("):
            # only jumps on an explicit route value, so an unset route falls through
            assert re.match(r'GotoIf\(\$\["\$\{HOTLINE_ROUTE\}" = "[a-z]+"\]\?', step), step
            continue
        path.append(step)
        if step.startswith("Goto("):
            break
    assert 'Set(PROMPT=${IF($["${HOTLINE_PROMPT}" = ""]?greeting:${HOTLINE_PROMPT})})' in path
    assert "Playback(${PROMPTS}/${PROMPT})" in path
    assert path[-1].startswith('Goto(hotline-queue,${IF($["${HOTLINE_QUEUE}" = ""]?${QUEUE_MAIN}')
    assert not any(s.startswith("Hangup") for s in path)


def test_number_plan_is_rendered(tmp_path: Path) -> None:
    rendered = _render(make_settings(tmp_path, agent_states={"members": "static"}))
    numbers = rendered["generated/extensions_numbers.conf"]
    for n in ("12345", "12369", "12328", "12329", "12333", "12366"):
        assert f"exten => {n},1,Goto(hotline-inbound,${{EXTEN}},1)" in numbers
    assert "exten => 110,1,Goto(hotline-inbound" not in numbers  # not our number
    assert "Dial(PJSIP/119@peer-119,30)" in numbers
    assert "Set(CHANNEL(hangup_handler_push)=hotline-handover-report,s,1)" in numbers
    assert "Dial(PJSIP/12366@peer-12366,30)" in numbers
    peers = rendered["generated/pjsip_peers.conf"]
    assert "contact=sip:119@192.0.2.119:5060" in peers and "match=192.0.2.119/32" in peers
    assert "set_var=HOTLINE_SOURCE=110" in peers
    assert peers.count("set_var=HOTLINE_HANDOVER=yes") == 1  # only 110 hands over
    queues = rendered["generated/queues.conf"]
    gjj = queues.split("[gjj](hotline-queue-defaults)")[1].split("\n[")[0]
    assert "member => PJSIP/1002,0,1002,PJSIP/1002" in gjj  # the skilled agent first
    assert "member => PJSIP/1001,1,1001,PJSIP/1001" in gjj
    assert "defaultrule=overflow-gjj" in gjj
    rules = rendered["generated/queuerules.conf"]
    assert "[overflow-gjj]\npenaltychange => 30,1" in rules
    assert "[overflow-jjjc]\npenaltychange => 60,1" in rules


def test_agent_secrets_are_private_and_stable(settings: Settings) -> None:
    first = ensure_agent_secrets(settings)
    assert settings.agent_secrets_file.stat().st_mode & 0o777 == 0o600
    assert ensure_agent_secrets(settings) == first


def test_missing_agent_secret_is_reported(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    ensure_agent_secrets(s)
    more = make_settings(tmp_path, agents=["1001", "1002", "1003", "1004"])
    with pytest.raises(SetupError, match=r"no SIP secret for agents \['1004'\]"):
        render(more, Instance.of(more), "/mods", PLAN)


def test_write_instance_creates_folders_and_private_files(settings: Settings) -> None:
    ensure_agent_secrets(settings)
    inst = Instance.of(settings)
    write_instance(settings, inst, "/mods", None, PLAN)
    for d in Instance.DIRS:
        assert (inst.host / d).is_dir(), d
    manager = inst.etc / "generated" / "manager.conf"
    assert manager.stat().st_mode & 0o777 == 0o640
    assert (inst.etc / "extensions.conf").read_text() == (REPO_CONF / "extensions.conf").read_text()


def test_webrtc_agents_get_wss_dtls_and_a_generated_certificate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, webrtc={"agents": ["1002"], "port": 18443})
    with pytest.raises(SetupError, match="hotline install"):
        _render(settings)
    from hotline.tls import cert_paths, ensure_certificate

    assert ensure_certificate(settings) and not ensure_certificate(settings)  # made once
    cert, key = cert_paths(settings)
    assert key.stat().st_mode & 0o077 == 0
    rendered = _render(settings)
    http = rendered["generated/http.conf"]
    assert "tlsenable=yes" in http and "tlsbindaddr=127.0.0.1:18443" in http
    assert "bindaddr=127.0.0.1" in http
    assert rendered["generated/webrtc-cert.pem"] == cert.read_text()
    assert (
        "[transport-wss]\ntype=transport\nprotocol=wss"
        in rendered["generated/pjsip_transports.conf"]
    )
    agents = rendered["generated/pjsip_agents.conf"]
    web = agents.split("[1002](agent-endpoint)")[1].split("[1002-auth]")[0]
    desk_phone = agents.split("[1001](agent-endpoint)")[1].split("[1001-auth]")[0]
    assert (
        "webrtc=yes" in web
        and "dtls_cert_file=/srv/hotline/unit/etc/generated/webrtc-cert.pem" in web
    )
    assert "webrtc" not in desk_phone
    assert settings.webrtc_ws_url == "wss://127.0.0.1:18443/ws"


def test_http_server_is_off_without_webrtc_agents(rendered: dict[str, str]) -> None:
    assert rendered["generated/http.conf"] == "[general]\nenabled=no\n"
    assert "transport-wss" not in rendered["generated/pjsip_transports.conf"]


@pytest.mark.parametrize(
    ("sip", "address"),
    [
        ({}, "127.0.0.1"),  # follows sip.bind
        ({"bind": "192.0.2.10", "carrier_address": "192.0.2.1"}, "192.0.2.10"),
        ({"media_address": "198.51.100.7"}, "198.51.100.7"),  # its own address
    ],
)
def test_media_binds_where_the_settings_say(
    tmp_path: Path, sip: dict[str, str], address: str
) -> None:
    rendered = _render(make_settings(tmp_path, sip=sip))
    agents = rendered["generated/pjsip_agents.conf"]
    media = f"media_address={address}\nbind_rtp_to_media_address=yes\n"
    assert media in rendered["generated/pjsip_carrier.conf"]
    assert agents.count(media) == 3  # every agent (their template has no media lines)
    assert rendered["generated/pjsip_peers.conf"].count(media) == len(list(PLAN.peers()))


def test_sip_on_every_interface_leaves_media_there_too(tmp_path: Path) -> None:
    rendered = _render(make_settings(tmp_path, sip={"bind": "0.0.0.0"}))
    assert "media_address" not in "".join(rendered.values())


def _front(nodes: list[str]) -> dict[str, object]:
    return {
        "nodes": nodes,
        "carrier_sources": ["127.0.0.6"],
    }


def test_agents_through_the_front_are_reached_through_it(tmp_path: Path) -> None:
    direct = _render(make_settings(tmp_path, front=_front(["127.0.0.1:15060", "127.0.0.1:15160"])))
    assert "outbound_proxy" not in direct["generated/pjsip_agents.conf"]
    front = _front(["127.0.0.1:15060", "127.0.0.1:15160"]) | {
        "agent_listen": "127.0.0.3",
        "agent_sources": ["127.0.0.1"],
    }
    agents = _render(make_settings(tmp_path, front=front))["generated/pjsip_agents.conf"]
    for agent in ("1001", "1002"):
        aor = agents.split(f"[{agent}](agent-aor)\n")[1].split("\n\n")[0]
        proxy = "outbound_proxy=sip:127.0.0.3:5060\\;lr"  # pjsip.conf escapes the ";"
        assert proxy in aor  # qualify OPTIONS
        endpoint = agents.split(f"[{agent}](agent-endpoint)\n")[1].split("\n\n")[0]
        assert "rewrite_contact=no" in endpoint and proxy in endpoint  # calls


def test_one_node_shares_no_device_state(rendered: dict[str, str]) -> None:
    assert "type=" not in rendered["generated/pjsip_nodes.conf"]
    assert "entityid" not in rendered["asterisk.conf"]


def test_linked_nodes_publish_device_state_to_each_other(tmp_path: Path) -> None:
    nodes = ["127.0.0.1:15060", "127.0.0.1:15160", "127.0.0.1:15260"]
    settings = make_settings(tmp_path, front=_front(nodes))  # this node: 127.0.0.1:15060
    rendered = _render(settings)
    links = rendered["generated/pjsip_nodes.conf"]
    for peer, address in (("node2", nodes[1]), ("node3", nodes[2])):
        assert f"[{peer}]\ntype=endpoint" in links
        # Only the peer's own address and SIP port identify it; a claimed user name does not.
        endpoint = links.split(f"[{peer}]\ntype=endpoint")[1].split("\n\n")[0]
        assert "identify_by=ip" in endpoint
        assert f"[{peer}-identify]\ntype=identify\nendpoint={peer}\nmatch={address}\n" in links
        assert f"[{peer}]\ntype=inbound-publication\nendpoint={peer}\n" in links
        assert f"event_asterisk-devicestate={peer}" in links
        assert f"[{peer}]\ntype=asterisk-publication\ndevicestate_publish=to-{peer}" in links
        assert f"server_uri=sip:node1@{address}" in links
    assert "from_uri=sip:node1@127.0.0.1:15060" in links
    assert "[node1]" not in links  # not to itself
    assert "auth" not in links  # see hotline/node_links.py: Asterisk 22 stalls on a challenge
    assert re.search(r"^entityid = ([0-9a-f]{2}:){5}[0-9a-f]{2}$", rendered["asterisk.conf"], re.M)
    assert '#include "generated/pjsip_nodes.conf"' in rendered["pjsip.conf"]
    assert "load => res_pjsip_publish_asterisk.so" in rendered["modules.conf"]


def test_linked_node_must_be_in_the_list(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, front=_front(["127.0.0.1:15160", "127.0.0.1:15260"]))
    with pytest.raises(SetupError, match=re.escape("must list this node as 127.0.0.1:15060")):
        _render(settings)

"""Renders the number plan (ivr.numberplan) into Asterisk configuration.

- ``[hotline-numbers]``: every number the carrier delivers enters ``hotline-inbound``;
- ``[hotline-transfer]``: what agents may transfer to (sub-centre, emergency centres);
- one PJSIP endpoint per peer, identified by its address, with ``set_var`` telling the
  dialplan where a call came from (HOTLINE_SOURCE) and whether the peer may hand calls over;
- one skill queue per specialised line: skilled agents at penalty 0, every other agent at
  penalty 1, and a queue rule that admits penalty 1 after the line's overflow wait.
"""

from __future__ import annotations

from core.settings import Settings
from ivr.numberplan import EmergencyCentre, NumberPlan

TRANSFER_RING_SECONDS = 30


def extensions(plan: NumberPlan) -> str:
    lines = ["; generated from the number plan by hotline", "[hotline-numbers]"]
    for number in plan.inbound_numbers():
        lines.append(f"exten => {number},1,Goto(hotline-inbound,${{EXTEN}},1)")
    lines += [
        "",
        "; agents' transfer targets (AMI Atxfer / BlindTransfer / Originate)",
        "[hotline-transfer]",
    ]
    for peer in plan.transfer_targets():
        lines += [
            f"exten => {peer.number},1,NoOp(transfer to {peer.name})",
            # Asterisk's word on the hand-over for the ticket, whoever hangs up first.
            " same => n,Set(HOTLINE_HANDOVER_TARGET=${EXTEN})",
            " same => n,Set(CHANNEL(hangup_handler_push)=hotline-handover-report,s,1)",
            f" same => n,Dial(PJSIP/{peer.number}@{peer.endpoint},{TRANSFER_RING_SECONDS})",
            " same => n,Hangup()",
        ]
    return "\n".join(lines) + "\n"


def endpoint_media(settings: Settings) -> str:
    """Media lines of every endpoint: RTP timeouts, and RTP bound to the media address
    (``sip.media_address``, else ``sip.bind``) instead of every interface."""
    timeout = settings.sip.rtp_timeout_seconds
    lines = f"rtp_timeout={timeout}\nrtp_timeout_hold={timeout * 5}\n"
    if (address := settings.sip.media_bind) is not None:
        lines += f"media_address={address}\nbind_rtp_to_media_address=yes\n"
    return lines


def peers(plan: NumberPlan, settings: Settings) -> str:
    blocks = []
    for peer in plan.peers():
        handover = isinstance(peer, EmergencyCentre) and peer.hands_over
        extra = ""
        if handover:
            assert isinstance(peer, EmergencyCentre)
            extra = (
                f"set_var=HOTLINE_HANDOVER=yes\nset_var=HOTLINE_PRIORITY={peer.handover_priority}\n"
            )
        blocks.append(f"""; {peer.name}
[{peer.endpoint}]
type=endpoint
context=from-peer
disallow=all
allow=ulaw,alaw
direct_media=no
rtp_symmetric=yes
dtmf_mode=rfc4733
aors={peer.endpoint}
{endpoint_media(settings)}set_var=HOTLINE_SOURCE={peer.number}
{extra}
[{peer.endpoint}]
type=aor
contact=sip:{peer.number}@{peer.host}:{peer.port}

[{peer.endpoint}-identify]
type=identify
endpoint={peer.endpoint}
match={peer.host}/32
""")
    return "\n".join(blocks)


def static_member(settings: Settings, agent: str, penalty: int) -> str:
    """A permanent queue member line; none when agents log in at the desk (QueueAdd)."""
    if settings.agent_states.members == "dynamic":
        return ""
    return f"member => PJSIP/{agent},{penalty},{agent},PJSIP/{agent}"


def asterisk_wrapup(settings: Settings) -> int:
    """With desk logins the app runs after-call work as a pause the agent can end early;
    Asterisk's own wrap-up could not be ended, so it is off."""
    return 0 if settings.agent_states.members == "dynamic" else settings.queue.wrapup_seconds


def queues(plan: NumberPlan, settings: Settings, prompts_dir: str) -> str:
    blocks = []
    for line in plan.specialised:
        members = []
        for agent in settings.agents:
            penalty = 0 if agent in line.skilled_agents else 1
            members.append(static_member(settings, agent, penalty))
        rule = f"defaultrule=overflow-{line.queue}\n" if line.overflow_seconds else ""
        blocks.append(f"""; {line.number} {line.name}: skilled agents first, everyone after
; {line.overflow_seconds} s
[{line.queue}](hotline-queue-defaults)
timeout={settings.queue.agent_ring_seconds}
wrapuptime={asterisk_wrapup(settings)}
periodic-announce={prompts_dir}/hold
{rule}{chr(10).join(m for m in members if m)}
""")
    return "\n".join(blocks)


def queue_rules(plan: NumberPlan) -> str:
    lines = ["; generated: widen each skill queue to every agent after its overflow wait"]
    for line in plan.specialised:
        if line.overflow_seconds:
            lines += [f"[overflow-{line.queue}]", f"penaltychange => {line.overflow_seconds},1"]
    return "\n".join(lines) + "\n"

"""The links between nodes behind the Kamailio front, in this node's Asterisk configuration.

app_queue sees only its own node's devices. When ``[front]`` lists several nodes, each node's
Asterisk publishes its PJSIP devices' states to every other node and takes theirs
(res_pjsip_publish_asterisk: outbound-publish, inbound-publication, asterisk-publication), so
an agent busy on node A shows busy on node B too. Rendered by hotline.asterisk_config into
``generated/pjsip_nodes.conf``; with one node or none the file is empty.

Nodes are named by their place in ``front.nodes`` (node1, node2 …), the same on every node. A
node publishes to ``sip:node<its own number>@<peer>``, and the receiver's endpoint,
inbound-publication and asterisk-publication for it all carry that name (the endpoint is found
by that user name, the publication by the request's user).

The PUBLISHes carry no digest auth: with auth / outbound_auth Asterisk 22's publisher never
answered the first challenge and then queued every later state unsent. Instead a peer node's
endpoint is identified **only by its source address and port** (``identify_by=ip`` and an
identify matching ``front.nodes``' entry): a PUBLISH naming ``node2`` from anywhere else is
not identified as node2 (the username identifier skips the endpoint) and gets Asterisk's
401, so nobody else can set an agent's state on our queues. Only PJSIP/ device states are
accepted, and the nodes' SIP ports should still only be reachable from the front, the other
nodes and the agents' network (a source address can be forged on UDP).
"""

from __future__ import annotations

import hashlib

from core.settings import Settings
from hotline.errors import SetupError


def linked(settings: Settings) -> bool:
    return len(settings.front.nodes) > 1


def own_index(settings: Settings) -> int:
    me = f"{settings.sip.bind}:{settings.sip.port}"
    try:
        return settings.front.nodes.index(me) + 1
    except ValueError:
        raise SetupError(
            f"front.nodes {settings.front.nodes} must list this node as {me} (sip.bind:sip.port)"
        ) from None


def entity_id_line(settings: Settings) -> str:
    """asterisk.conf's entityid, distinct per node: Asterisk drops published states that carry
    its own id, and the default (a MAC address) is the same for nodes on one host."""
    if not linked(settings):
        return ""
    digest = bytearray(hashlib.sha256(settings.node_id.encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02  # a locally administered unicast address
    return "entityid = " + ":".join(f"{b:02x}" for b in digest) + "\n"


def pjsip_nodes(settings: Settings) -> str:
    if not linked(settings):
        return "; one node: no device state to share\n"
    me = own_index(settings)
    own_address = settings.front.nodes[me - 1]
    blocks = []
    for index, address in enumerate(settings.front.nodes, start=1):
        if index == me:
            continue
        peer = f"node{index}"
        blocks.append(f"""; {peer} at {address}: our device states to it, its states to us
[{peer}]
type=endpoint
; no such dialplan context: a node only publishes, it cannot place calls here
context=hotline-node-links
disallow=all
allow=ulaw
; known by its address and SIP port only, never by the user name a request claims
identify_by=ip

[{peer}-identify]
type=identify
endpoint={peer}
match={address}

[{peer}]
type=inbound-publication
endpoint={peer}
event_asterisk-devicestate={peer}

[{peer}]
type=asterisk-publication
devicestate_publish=to-{peer}
device_state=yes
device_state_filter=^PJSIP/

[to-{peer}]
type=outbound-publish
server_uri=sip:node{me}@{address}
to_uri=sip:node{me}@{address}
from_uri=sip:node{me}@{own_address}
event=asterisk-devicestate
""")
    return "\n".join(blocks)

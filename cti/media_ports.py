"""How full the node's RTP port range is: running out of media ports refuses calls.

Where this sits in a call: every SIP channel with audio (the citizen's leg from the carrier,
each agent's leg, a centre's leg) holds one RTP instance in Asterisk, which binds an even
port of ``[sip] rtp_start``–``rtp_end`` for RTP and the next one for RTCP. When none is free,
PJSIP answers the next INVITE ``488 Not Acceptable Here`` — to the caller it looks like a
broken line; Asterisk only logs "couldn't allocate a port for RTP instance" per refused call,
with no warning before and nothing monitoring sees. The call tracker
(:class:`cti.tracker.CallTracker`) counts the PJSIP channels it sees from AMI
(``media_channels``); the node polls :meth:`MediaPortGauge.update` with that count, which logs
once per crossing of the warning (90 % used) and full (100 %) levels; ``/api/health`` and the
wallboard show the last reading.

The count is what AMI reported: channels that came up while the AMI link was down are only
known from their next event, so right after a reconnect the figure can be low for a while.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

WARN_RATIO = 0.9


class MediaLevel(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"  # at or above WARN_RATIO of the range
    OUT = "out"  # every port pair taken: new calls get 488


def media_capacity(rtp_start: int, rtp_end: int) -> int:
    """Media channels a range holds: Asterisk binds RTP on even ports of the range only
    (res_rtp_asterisk rounds its pick down to even), RTCP on the odd port after it."""
    first_even = rtp_start + (rtp_start & 1)
    return max(0, (rtp_end - first_even) // 2 + 1)


def media_level(in_use: int, capacity: int, warn_ratio: float = WARN_RATIO) -> MediaLevel:
    if in_use >= capacity:
        return MediaLevel.OUT
    if in_use >= warn_ratio * capacity:
        return MediaLevel.WARNING
    return MediaLevel.OK


@dataclass(frozen=True, slots=True)
class MediaPorts:
    """One reading, as ``/api/health`` and the wallboard show it."""

    rtp_start: int
    rtp_end: int
    capacity: int  # media channels the range holds
    in_use: int  # media channels up (PJSIP channels AMI reported)
    level: MediaLevel


class MediaPortGauge:
    """The node's RTP range and the last reading; logs each change of level once."""

    def __init__(self, rtp_start: int, rtp_end: int, warn_ratio: float = WARN_RATIO) -> None:
        self._start = rtp_start
        self._end = rtp_end
        self._warn_ratio = warn_ratio
        self.capacity = media_capacity(rtp_start, rtp_end)
        self.last: MediaPorts | None = None

    def update(self, in_use: int) -> MediaPorts:
        level = media_level(in_use, self.capacity, self._warn_ratio)
        was = self.last.level if self.last is not None else MediaLevel.OK
        self.last = MediaPorts(self._start, self._end, self.capacity, in_use, level)
        if level is not was:
            where = f"{in_use} of {self.capacity} media channels (RTP {self._start}-{self._end})"
            if level is MediaLevel.OUT:
                log.error(
                    "out of media ports: %s; new calls are refused with 488 until calls end "
                    "(widen sip.rtp_start/rtp_end)",
                    where,
                )
            elif level is MediaLevel.WARNING:
                log.warning("media ports nearly used up: %s", where)
            else:
                log.info("media ports back to normal: %s", where)
        return self.last

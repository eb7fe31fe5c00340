"""Media ports: the RTP range's capacity, the levels, one log line per crossing, and the
tracker's count of channels that hold ports."""

from __future__ import annotations

import logging

import pytest

from core.events import Event
from cti.ami_events import Hangup, Newchannel
from cti.media_ports import MediaLevel, MediaPortGauge, media_capacity, media_level
from cti.tracker import CallTracker


@pytest.mark.parametrize(
    ("start", "end", "channels"),
    [
        (20000, 20999, 500),  # the default range
        (30000, 30199, 100),  # the test bed's 200 ports
        (30001, 30199, 99),  # RTP only on even ports
        (30000, 30000, 1),  # RTCP then sits just past the end
        (30001, 30001, 0),
    ],
)
def test_capacity_counts_even_ports(start: int, end: int, channels: int) -> None:
    assert media_capacity(start, end) == channels


def test_levels() -> None:
    assert media_level(0, 100) is MediaLevel.OK
    assert media_level(89, 100) is MediaLevel.OK
    assert media_level(90, 100) is MediaLevel.WARNING
    assert media_level(99, 100) is MediaLevel.WARNING
    assert media_level(100, 100) is MediaLevel.OUT
    assert media_level(0, 0) is MediaLevel.OUT


def test_each_crossing_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    gauge = MediaPortGauge(30000, 30199)
    caplog.set_level(logging.INFO, logger="cti.media_ports")
    levels = [gauge.update(n).level for n in (10, 89, 90, 95, 100, 100, 100, 97, 40, 41)]
    assert levels == [
        *(MediaLevel.OK,) * 2,
        *(MediaLevel.WARNING,) * 2,
        *(MediaLevel.OUT,) * 3,
        MediaLevel.WARNING,
        *(MediaLevel.OK,) * 2,
    ]
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records] == [
        (logging.WARNING, "media ports nearly used up"),
        (logging.ERROR, "out of media ports"),
        (logging.WARNING, "media ports nearly used up"),
        (logging.INFO, "media ports back to normal"),
    ]
    assert "100 of 100 media channels (RTP 30000-30199)" in caplog.records[1].getMessage()
    last = gauge.last
    assert last is not None and (last.in_use, last.capacity) == (41, 100)


class _Bus:
    def publish(self, event: Event) -> None:
        pass

    def subscribe(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the tracker only publishes")


async def test_tracker_counts_sip_channels_until_their_hangup() -> None:
    tracker = CallTracker(_Bus(), "n1")  # type: ignore[arg-type]
    names = ["PJSIP/carrier-00000001", "Local/1001@agents-00000002;1", "PJSIP/1001-00000003"]
    for i, name in enumerate(names):
        await tracker.handle(Newchannel(channel=name, uniqueid=str(i), linkedid="0"))
    assert (tracker.active_channels, tracker.media_channels) == (3, 2)
    await tracker.handle(Hangup(channel=names[0], uniqueid="0", linkedid="0", cause=16))
    assert tracker.media_channels == 1
    tracker.reset()
    assert tracker.media_channels == 0

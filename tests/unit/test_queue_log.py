"""The queue-log edge: lines to typed calls, reading from an offset, bisecting by time."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cti.queue_log import (
    CallFold,
    FilePosition,
    agent_id,
    iter_file,
    offset_at,
    parse_line,
    read_lines,
    segments,
)
from tests.unit.queue_log_sample import (
    T0,
    abandoned,
    answered,
    in_greeting,
    in_progress,
    start,
    text,
)


def at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def fold(lines: list[str]) -> CallFold:
    f = CallFold()
    for line in lines:
        parsed = parse_line(line)
        assert parsed is not None, line
        f.feed(parsed)
    return f


def test_parse_line_and_garbage() -> None:
    line = parse_line(f"{T0}|1.5|main|1001|CONNECT|3|1.6|1\n", offset=40)
    assert line is not None
    assert (line.at, line.callid, line.queue, line.agent, line.event) == (
        at(T0),
        "1.5",
        "main",
        "1001",
        "CONNECT",
    )
    assert line.data == ("3", "1.6", "1") and line.offset == 40
    assert parse_line("") is None
    assert parse_line("garbage|x|y") is None
    assert parse_line("17950|torn") is None
    assert agent_id("PJSIP/1003") == "1003" and agent_id("NONE") is None


def test_answered_call_from_start_to_end() -> None:
    f = fold(answered(T0, "1.1", "13800000001"))
    (call,) = f.take_closed()
    assert call.closed and call.has_start and not f.calls
    assert call.uniqueid == "1.1" and call.linkedid == "1.1"
    assert call.caller == "13800000001" and call.dialled == "12345"
    assert call.channel == "PJSIP/carrier-1.1"
    assert call.started_at == at(T0) + timedelta(milliseconds=250)
    assert call.queue == "main" and call.agent_id == "1001"
    assert call.answered_at == at(T0 + 11) and call.ended_at == at(T0 + 31)
    assert call.hold_seconds == 3 and call.outcome == "answered"
    assert call.route is None and call.prompt == "greeting" and call.cause == 16


def test_abandoned_in_greeting_and_in_progress() -> None:
    f = fold(
        abandoned(T0, "2.1", "13800000002")
        + in_greeting(T0 + 1, "2.2", "13800000003")
        + in_progress(T0 + 2, "2.3", "13800000004")
    )
    gave_up, hung_up = f.take_closed()
    assert (gave_up.outcome, gave_up.hold_seconds, gave_up.wait_seconds) == ("abandoned", 5, 5)
    assert gave_up.ended_at == at(T0 + 13)
    assert (hung_up.outcome, hung_up.queue, hung_up.wait_seconds) == ("unanswered", None, 3)
    (talking,) = f.calls.values()
    assert not talking.closed and talking.outcome == "answered" and talking.agent_id == "1002"
    assert talking.ended_at is None


def test_caller_number_with_a_pipe_stays_whole() -> None:
    f = fold([start(T0, "3.1", "evil|NONE"), f"{T0 + 1}|3.1|NONE|NONE|HOTLINE_END|16||"])
    (call,) = f.take_closed()
    assert call.caller == "evil|NONE" and call.dialled == "12345"
    assert call.outcome == "unanswered" and call.prompt is None


def test_queue_lines_without_our_start_close_at_the_queue_end() -> None:
    """Lines written before the dialplan had HOTLINE_START (or before the read position)."""
    f = fold(
        [
            f"{T0}|4.1|main||ENTERQUEUE||13800000005|1",
            f"{T0 + 2}|4.1|main|1001|CONNECT|2|4.2|1",
            f"{T0 + 9}|4.1|main|1001|COMPLETEAGENT|2|7|1",
            f"{T0 + 9}|4.9|main|1001|COMPLETEAGENT|2|7|1",  # its start is not in what we read
        ]
    )
    (call,) = f.take_closed()
    assert not call.has_start and call.caller == "13800000005" and call.dialled is None
    assert call.outcome == "answered" and call.ended_at == at(T0 + 9)


def test_asterisk_restart_closes_open_calls_and_lost_ends_expire() -> None:
    f = fold([*in_progress(T0, "5.1", "13800000006"), f"{T0 + 60}|NONE|NONE|NONE|QUEUESTART|"])
    (call,) = f.take_closed()
    # It had been answered, then Asterisk restarted under it: lost, at its last line.
    assert call.closed and call.ended_at == at(T0 + 9) and call.outcome == "lost"
    assert call.answered_at is not None
    f = fold(in_progress(T0, "5.2", "1") + in_greeting(T0 + 7 * 3600, "5.3", "2"))
    assert [c.uniqueid for c in f.take_closed()] == ["5.3"]
    f.expire(timedelta(hours=6))
    assert [c.uniqueid for c in f.take_closed()] == ["5.2"] and not f.calls


def test_resume_offset_holds_the_first_line_of_an_open_call(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    done = text(answered(T0, "6.1", "1"))
    path.write_text(done + text(in_progress(T0 + 40, "6.2", "2")) + f"{T0 + 50}|6.3|tor")
    lines, end = read_lines(path, 0)
    assert len(lines) == 9  # the torn last line is left for the next read
    assert end == path.stat().st_size - len(f"{T0 + 50}|6.3|tor")
    f = CallFold()
    for line in lines:
        f.feed(line)
    assert f.resume_offset(end) == len(done.encode())
    f.take_closed()
    assert f.resume_offset(end) == len(done.encode())


def test_offset_at_bisects_by_time(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    lines = []
    for i in range(2000):
        lines += answered(T0 + 60 * i, f"{T0 + 60 * i}.{i}", "13800000007")
    path.write_text(text(lines))
    off = offset_at(path, at(T0 + 60 * 1500))
    first = next(iter_file(path, off))
    assert first.event == "HOTLINE_START" and first.at == at(T0 + 60 * 1500)
    assert offset_at(path, at(T0 - 10)) == 0
    assert offset_at(path, at(T0 + 10**7)) == path.stat().st_size


def test_segments_follow_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("x\n" * 10)
    mark = FilePosition(os.stat(path).st_ino, 6)
    assert segments(path, mark) == [(path, 6)]
    assert segments(path, FilePosition(mark.inode, 999)) == [(path, 0)]  # truncated
    os.rename(path, tmp_path / "queue_log.0")
    path.write_text("y\n")
    assert segments(path, mark) == [(tmp_path / "queue_log.0", 6), (path, 0)]
    assert segments(tmp_path / "absent", None) == []

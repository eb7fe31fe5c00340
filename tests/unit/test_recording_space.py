"""The recordings volume filling up (the disk-full fault of issue 14), on a real 4 MB tmpfs:
each crossing of the floor is logged and published once, the health reading follows, and
space coming back clears the alert."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.calls.disk import RecordingSpaceWatch
from core.events import Event, RecordingSpace


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "monitor"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs (run as root, as scripts/test does): {done.stderr}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_raises_one_alert_and_space_back_clears_it(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    watch = RecordingSpaceWatch(small_disk, min_free_mb=2, node_id="n1", publish=events.append)
    first = watch.check()
    assert first is not None and first.free_mb == 4 and not first.low
    assert events == []  # nothing to say while there is room

    # MixMonitor's legs fill the volume until a write fails, as on a real full disk.
    with pytest.raises(OSError), (small_disk / "call.wav").open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with caplog.at_level(logging.ERROR, logger="app.calls.disk"):
        full = watch.check()
        again = watch.check()
    assert full is not None and full.low and full.free_mb == 0
    assert again == full and watch.last == full
    (alert,) = events  # once per crossing, not once per pass
    assert isinstance(alert, RecordingSpace)
    assert (alert.node_id, alert.low, alert.free_mb, alert.min_free_mb) == ("n1", True, 0, 2)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "0 MB free (below 2 MB)" in caplog.records[0].getMessage()

    (small_disk / "call.wav").unlink()
    back = watch.check()
    assert back is not None and not back.low
    assert [e.low for e in events if isinstance(e, RecordingSpace)] == [True, False]


def test_a_folder_not_made_yet_reads_its_parents_volume(tmp_path: Path) -> None:
    events: list[Event] = []
    watch = RecordingSpaceWatch(tmp_path / "not" / "yet", 1, "n1", events.append)
    reading = watch.check()
    assert reading is not None and reading.free_mb > 0 and not reading.low

"""The recordings volume's free space (GB/T 33358 asks for recorded calls; a full disk must
not stop the hotline): the node's one scheduler calls :meth:`RecordingSpaceWatch.check` every
``[recordings] check_seconds``.

Asterisk's MixMonitor keeps answering and bridging when it cannot write, so a full disk
costs recordings, not calls; what it must not do is go unnoticed. Each crossing of
``min_free_mb`` (falling below, or back above) logs once and publishes
``core.events.RecordingSpace``; ``/api/health`` shows the last reading.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.events import Event, RecordingSpace

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpaceReading:
    free_mb: int
    low: bool


class RecordingSpaceWatch:
    """Reads the volume holding ``folder`` and tells the bus when it crosses the floor."""

    def __init__(
        self, folder: Path, min_free_mb: int, node_id: str, publish: Callable[[Event], None]
    ) -> None:
        self._folder = folder
        self._min_free_mb = min_free_mb
        self._node_id = node_id
        self._publish = publish
        self.last: SpaceReading | None = None

    def check(self) -> SpaceReading | None:
        """One reading; None when the folder cannot be read (logged, not raised: the next
        pass tries again)."""
        try:
            # The folder may not exist yet on a fresh node: read its nearest parent's volume.
            folder = next(p for p in (self._folder, *self._folder.parents) if p.exists())
            free_mb = shutil.disk_usage(folder).free // MB
        except OSError:
            log.exception("cannot read the free space of %s", self._folder)
            return None
        reading = SpaceReading(free_mb, free_mb < self._min_free_mb)
        was_low = self.last.low if self.last is not None else False
        self.last = reading
        if reading.low != was_low:
            if reading.low:
                log.error(
                    "recordings volume %s has %d MB free (below %d MB): new calls may go "
                    "unrecorded; free space now",
                    self._folder,
                    free_mb,
                    self._min_free_mb,
                )
            else:
                log.warning("recordings volume %s has %d MB free again", self._folder, free_mb)
            self._publish(
                RecordingSpace(
                    node_id=self._node_id,
                    low=reading.low,
                    free_mb=free_mb,
                    min_free_mb=self._min_free_mb,
                )
            )
        return reading

"""Live transcription of one call leg: partial and final text, and keyword alerts, as it speaks.

Call flow: the app's live service receives the caller's audio from ``audiosocket`` (Asterisk's
ChanSpy of the caller's channel, while the caller is bridged to an agent) and feeds it, in
0.2 s chunks, to a :class:`LiveDecoder` in its bounded executor. The decoder runs two streams
of the one shared model on the same audio:

- the transcript stream (full vocabulary, or a phrase list for scripted tests) gives partial
  text while a sentence is open and a final, timed sentence at each pause, for the agent desk;
- the spotting stream is restricted to the alert phrases (plus fillers): grammar-restricted
  decoding is ~30x cheaper than full decoding and hears listed phrases that full decoding
  misses; its final utterances, and the transcript's, are matched by ``keywords.find_alerts``.

Each (category, phrase) alerts once per call: the desk needs one prompt to transfer, not one
per repetition. The decoder is pure logic over the engine interface; it does no I/O and is used
from one thread at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from transcription.engine import AudioStream, ModelError, Segment, StreamingModel, StreamUpdate
from transcription.keywords import Alert, KeywordRule, find_alerts

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
# Audio handed to the decoder at once: Vosk's endpointer looks once per call, and a partial
# result comes out per call, so this bounds the added latency (0.2 s) at a small CPU cost.
CHUNK_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class LiveText:
    """A partial (the open sentence so far) or a final (a closed, timed sentence)."""

    kind: Literal["partial", "final"]
    text: str
    start: float | None  # seconds from the stream's start (finals only)
    end: float | None
    audio_at: float  # seconds of audio decoded when this came out (latency accounting)


@dataclass(frozen=True, slots=True)
class LiveOutput:
    texts: tuple[LiveText, ...] = ()
    alerts: tuple[Alert, ...] = ()


class LiveDecoder:
    def __init__(
        self,
        model: StreamingModel,
        rules: Sequence[KeywordRule],
        *,
        sample_rate: int = SAMPLE_RATE,
        speaker: str = "citizen",
        fillers: Sequence[str] = (),
        vocabulary: Sequence[str] | None = None,
        min_conf: float = 0.0,
    ) -> None:
        self._rules = tuple(rules)
        self._rate = sample_rate
        self._speaker = speaker
        self._min_conf = min_conf
        self._samples = 0
        self._seen: set[tuple[str, str]] = set()
        self._text: AudioStream = model.stream(sample_rate, vocabulary)
        self._spot: AudioStream | None = None
        phrases = [p for rule in self._rules for p in rule.phrases]
        if phrases:
            try:
                self._spot = model.stream(sample_rate, [*phrases, *fillers])
            except ModelError as exc:
                # Alerts still come from the transcript stream's text.
                log.warning("live keyword spotting off: %s", exc)

    @property
    def seconds(self) -> float:
        """Audio decoded so far."""
        return self._samples / self._rate

    def feed(self, pcm: bytes) -> LiveOutput:
        self._samples += len(pcm) // 2
        text = self._text.accept(pcm)
        spot = self._spot.accept(pcm) if self._spot is not None else StreamUpdate()
        return self._output(text, spot)

    def finish(self) -> LiveOutput:
        text = self._text.finish()
        spot = self._spot.finish() if self._spot is not None else StreamUpdate()
        return self._output(text, spot)

    def _output(self, text: StreamUpdate, spot: StreamUpdate) -> LiveOutput:
        at = self.seconds
        texts: list[LiveText] = [
            LiveText("final", seg.text, seg.start, seg.end, at) for seg in text.finals
        ]
        if text.partial is not None:
            texts.append(LiveText("partial", text.partial, None, None, at))
        spotted = [*self._confident(spot.finals), *text.finals]
        alerts = []
        for alert in find_alerts(spotted, self._rules, speaker=self._speaker):
            key = (alert.category, alert.phrase)
            if key not in self._seen:
                self._seen.add(key)
                alerts.append(alert)
        return LiveOutput(tuple(texts), tuple(alerts))

    def _confident(self, segments: Sequence[Segment]) -> list[Segment]:
        if self._min_conf <= 0:
            return list(segments)
        kept = (tuple(w for w in seg.words if w.conf >= self._min_conf) for seg in segments)
        return [Segment.of(words) for words in kept if words]

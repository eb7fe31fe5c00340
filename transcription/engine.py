"""The speech-engine interface: audio in, timed words out.

Call flow: ``post_call`` (recorded legs after hang-up) and ``keywords`` (alert spotting) ask a
``SpeechModel`` for a ``Recognizer`` and hand it 16-bit mono PCM; the recogniser returns
``Segment``s of timed ``Word``s. ``live`` asks a ``StreamingModel`` for an ``AudioStream`` and
feeds it the call's audio as it arrives, getting partial text and closed utterances back.
``vosk_engine`` is the implementation we ship; another engine fits behind the same Protocols
without touching the callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TranscriptionError(Exception):
    """Root of every error this package raises; the message says what to do."""


class ModelError(TranscriptionError):
    """A speech model is missing, broken, or cannot be installed."""


class AudioFormatError(TranscriptionError):
    """Audio is not in a format we can transcribe (we take 16-bit mono PCM WAV)."""


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One utterance (speech between pauses), as the engine split it."""

    words: tuple[Word, ...]
    start: float
    end: float
    text: str

    @classmethod
    def of(cls, words: Sequence[Word]) -> Segment:
        """A segment spanning ``words`` (which must not be empty)."""
        if not words:
            raise ValueError("a segment needs at least one word")
        return cls(
            words=tuple(words),
            start=words[0].start,
            end=words[-1].end,
            text=" ".join(w.text for w in words),
        )


class Recognizer(Protocol):
    """Decodes whole buffers of 16-bit little-endian mono PCM; safe to call from any thread."""

    def transcribe(self, pcm: bytes, sample_rate: int) -> list[Segment]:
        """Full-vocabulary recognition."""
        ...

    def spot(self, pcm: bytes, sample_rate: int, phrases: Sequence[str]) -> list[Segment]:
        """Recognition restricted to ``phrases`` (plus the model's unknown-word token).

        Much cheaper than :meth:`transcribe`, and it finds phrases that full decoding misses,
        but speech outside the list can be forced onto a listed phrase: callers add ordinary
        filler phrases to the list when the model's unknown-word token absorbs too little.
        """
        ...


class SpeechModel(Protocol):
    """A loaded (or lazily loading) model that hands out recognisers."""

    @property
    def name(self) -> str: ...

    def recognizer(self) -> Recognizer: ...


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """What one chunk of live audio produced: utterances the engine closed, and the text of
    the utterance still open (None when it did not change or nothing is open)."""

    finals: tuple[Segment, ...] = ()
    partial: str | None = None


class AudioStream(Protocol):
    """One live stream's decoder: fed chunks of 16-bit mono PCM in order, from one thread at a
    time. Word times count from the stream's first sample."""

    def accept(self, pcm: bytes) -> StreamUpdate: ...

    def finish(self) -> StreamUpdate: ...


class StreamingModel(SpeechModel, Protocol):
    """A model that also decodes live audio as it arrives (``live``)."""

    def load(self) -> object:
        """Load now (blocking, seconds), so the first live call does not wait for it."""
        ...

    def stream(self, sample_rate: int, phrases: Sequence[str] | None = None) -> AudioStream:
        """A new stream; ``phrases`` restricts it to a phrase list, as ``Recognizer.spot``."""
        ...

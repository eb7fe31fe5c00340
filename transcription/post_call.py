"""Post-call transcription: the two recorded legs of one call into one timed transcript.

Call flow: Asterisk's ``MixMonitor(…,r(caller.wav)t(agent.wav))`` writes each direction of the
call to its own 8 kHz file; after hang-up the app's job queue calls ``transcribe_call_async``,
which runs ``transcribe_call`` in the bounded transcription executor (decoding is seconds of
CPU per call and must never run on the event loop). Each leg is decoded on its own, so the
speaker is known without diarisation, and the segments are merged by start time.
"""

from __future__ import annotations

import asyncio
import functools
import re
import wave
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transcription.engine import AudioFormatError, Recognizer, Segment, SpeechModel, Word

Speaker = Literal["citizen", "agent"]
SPEAKER_LABELS_ZH: Mapping[str, str] = {"citizen": "市民", "agent": "话务员"}
# MixMonitor writes .wav at 8 kHz (and .wav16 at 16 kHz for wideband calls).
ACCEPTED_RATES = (8000, 16000)

_SPEAKER_ORDER: Mapping[Speaker, int] = {"citizen": 0, "agent": 1}
# Full-width punctuation and Han characters: Chinese models put spaces between words, which
# a Chinese reader does not expect; spaces between Latin words and digits stay.
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
_CJK_GAP = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One utterance of one speaker; ``text`` as the recogniser spelled it (words spaced)."""

    speaker: Speaker
    start: float
    end: float
    text: str
    # The timed words behind ``text`` (keyword alerts use them to time a match precisely).
    words: tuple[Word, ...] = field(default=(), compare=False, repr=False)

    def display_text(self) -> str:
        return display_text(self.text)


@dataclass(frozen=True, slots=True)
class Transcript:
    """A call's transcript: both speakers' lines in order of time."""

    lines: tuple[TranscriptLine, ...]

    @classmethod
    def merge(cls, legs: Mapping[Speaker, Sequence[Segment]]) -> Transcript:
        lines = [
            TranscriptLine(
                speaker=speaker, start=seg.start, end=seg.end, text=seg.text, words=seg.words
            )
            for speaker, segments in legs.items()
            for seg in segments
        ]
        # Ties go to the citizen: the caller usually speaks first over a shared instant.
        lines.sort(key=lambda ln: (ln.start, _SPEAKER_ORDER[ln.speaker], ln.end))
        return cls(lines=tuple(lines))

    def render_zh(self) -> str:
        """``[mm:ss] 市民：…`` lines, one per utterance, for the ticket page and the CLI."""
        return "\n".join(
            f"[{timestamp(ln.start)}] {SPEAKER_LABELS_ZH[ln.speaker]}：{ln.display_text()}"
            for ln in self.lines
        )


def display_text(text: str) -> str:
    """Recognised text as a reader expects it: no spaces between Chinese characters."""
    return _CJK_GAP.sub("", text.strip())


def timestamp(seconds: float) -> str:
    """``mm:ss`` from the start of the call (``h:mm:ss`` past an hour)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def read_leg(path: Path) -> tuple[bytes, int]:
    """The PCM and sample rate of one recorded leg; ``AudioFormatError`` if it isn't usable."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            problems = []
            if channels != 1:
                problems.append(f"{channels} channels (want mono)")
            if width != 2:
                problems.append(f"{8 * width}-bit samples (want 16-bit)")
            if rate not in ACCEPTED_RATES:
                problems.append(f"{rate} Hz (want 8000 or 16000)")
            if problems:
                raise AudioFormatError(
                    f"{path}: unsupported recording format: {', '.join(problems)}; "
                    "record with MixMonitor r()/t() as .wav, or convert with "
                    "`sox IN -r 8000 -c 1 -b 16 OUT.wav`"
                )
            return w.readframes(w.getnframes()), rate
    except FileNotFoundError as exc:
        raise AudioFormatError(f"{path}: no such recording") from exc
    except (wave.Error, EOFError) as exc:
        # The wave module only reads uncompressed PCM; a-law/µ-law/GSM files land here too.
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc
    except OSError as exc:
        raise AudioFormatError(f"{path}: cannot read the recording ({exc})") from exc


def _decode(
    rec: Recognizer, pcm: bytes, rate: int, vocabulary: Sequence[str] | None
) -> list[Segment]:
    return rec.transcribe(pcm, rate) if vocabulary is None else rec.spot(pcm, rate, vocabulary)


def transcribe_call(
    model: SpeechModel,
    caller_wav: Path,
    agent_wav: Path,
    *,
    vocabulary: Sequence[str] | None = None,
) -> Transcript:
    """Transcribe both legs (blocking; seconds of CPU) and merge them by time.

    ``vocabulary`` restricts recognition to those phrases (grammar mode): far cheaper, for
    scripted dialogs and for tests; ``None`` is full-vocabulary recognition.
    """
    # Read and check both files before spending CPU on either.
    caller = read_leg(caller_wav)
    agent = read_leg(agent_wav)
    rec = model.recognizer()
    return Transcript.merge(
        {
            "citizen": _decode(rec, *caller, vocabulary),
            "agent": _decode(rec, *agent, vocabulary),
        }
    )


async def transcribe_call_async(
    executor: Executor,
    model: SpeechModel,
    caller_wav: Path,
    agent_wav: Path,
    *,
    vocabulary: Sequence[str] | None = None,
) -> Transcript:
    """``transcribe_call`` in ``executor`` so the event loop keeps serving calls meanwhile."""
    loop = asyncio.get_running_loop()
    job = functools.partial(transcribe_call, model, caller_wav, agent_wav, vocabulary=vocabulary)
    return await loop.run_in_executor(executor, job)


def make_executor(workers: int) -> ThreadPoolExecutor:
    """The bounded pool recognisers run in; size it to the cores set aside for transcription.

    Threads suffice: Vosk's C calls release the GIL, and threads share the one loaded Model.
    """
    if workers < 1:
        raise ValueError("the transcription pool needs at least one worker")
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcribe")

"""Vosk (Kaldi) behind the engine interface: the recogniser we ship.

Call flow: the app builds one ``VoskModel`` per process (``shared_model``) from the model that
``models.resolve_model`` found; workers in the bounded transcription executor call
``model.recognizer().transcribe(...)`` or ``.spot(...)``. The model loads lazily in the first
worker that needs it (about 2 s and 600 MB for a small model), never on the event loop, and
every job gets its own ``KaldiRecognizer`` because a recogniser holds one stream's state.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vosk  # type: ignore[import-untyped]

from transcription.engine import AudioFormatError, ModelError, Segment, StreamUpdate, Word

log = logging.getLogger(__name__)

# Kaldi's levels: 0 info, -1 warning, -2 error. -1 still prints a warning per grammar word the
# model lacks; we check the vocabulary ourselves and log that through Python logging instead.
_KALDI_LOG_LEVEL = -2
# Tokens that mean "some word not in the list" in grammar mode: Vosk's own models use "[unk]";
# Kaldi recipes (the PyPI Korean model) call it "<UNK>". Never shown to users.
_UNKNOWN_TOKENS = ("[unk]", "<UNK>", "<unk>")
# Vosk checks for an endpoint once per AcceptWaveform call: 0.2 s chunks split utterances at
# the pause where they end, not up to a whole buffer later.
_CHUNK_SECONDS = 0.2
# A pause this long ends an utterance even when Vosk's endpointer runs on (it can, when Kaldi's
# dither noise in digital silence decodes as words): merged transcripts interleave by utterance.
_PAUSE_SECONDS = 1.0
# Longest vocabulary word tried when splitting an unspaced phrase (Mandarin) into words.
_MAX_WORD_CHARS = 8

_shared_lock = threading.Lock()
_shared: dict[Path, VoskModel] = {}


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """What the model's front end accepts (``conf/mfcc.conf``)."""

    sample_rate: int
    allow_upsample: bool

    def accepts(self, rate: int) -> bool:
        # Vosk forces allow_downsample on; upsampling only if the model says so.
        return rate >= self.sample_rate or self.allow_upsample


def read_feature_config(model_dir: Path) -> FeatureConfig:
    """Read the sample rate and resampling options from a Vosk model folder."""
    for candidate in (model_dir / "conf" / "mfcc.conf", model_dir / "mfcc.conf"):
        if candidate.is_file():
            opts: dict[str, str] = {}
            for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines():
                m = re.match(r"\s*--([\w.-]+)=(\S+)", line)
                if m:
                    opts[m.group(1)] = m.group(2)
            return FeatureConfig(
                sample_rate=int(float(opts.get("sample-frequency", "16000"))),
                allow_upsample=opts.get("allow-upsample", "false").lower() == "true",
            )
    raise ModelError(f"{model_dir} is not a Vosk model: it has no conf/mfcc.conf")


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """16-bit mono PCM at another rate (only for models that refuse to upsample)."""
    return _ratecv(pcm, from_rate, to_rate, None)[0]


def _ratecv(pcm: bytes, from_rate: int, to_rate: int, state: Any) -> tuple[bytes, Any]:
    """``audioop.ratecv`` on 16-bit mono; ``state`` carries the filter across a stream's chunks."""
    try:
        with warnings.catch_warnings():
            # Deprecated since 3.11, removed in 3.13 (then the audioop-lts package provides it).
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError as exc:  # pragma: no cover - Python 3.13+ without audioop-lts
        raise ModelError(
            f"the model needs {to_rate} Hz audio and resampling needs audioop: "
            "pip install audioop-lts"
        ) from exc
    out, state = audioop.ratecv(pcm, 2, 1, from_rate, to_rate, state)
    return out, state


def shared_model(path: Path, *, name: str | None = None) -> VoskModel:
    """The one ``VoskModel`` of this process for ``path`` (the Model is loaded on first use)."""
    key = path.resolve()
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = VoskModel(key, name=name)
        return model


class VoskModel:
    """A Vosk model folder; loads ``vosk.Model`` once, lazily, from whichever thread asks first.

    Implements ``engine.SpeechModel``. Recognisers from it may run in many threads at once:
    the Model is read-only after loading.
    """

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        # The PyPI wheel keeps its model in a folder called "model": name it after the package.
        default = path.parent.name.replace("_", "-") if path.name == "model" else path.name
        self._name = name or default
        self.features = read_feature_config(path)
        self._lock = threading.Lock()
        self._model: Any = None
        self._unknown: str | None = None
        # Phrase → its vocabulary words; the same alert lists are looked up on every call.
        self._phrases: dict[str, str | None] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def sample_rate(self) -> int:
        """The rate the acoustic model was trained on."""
        return self.features.sample_rate

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        """The ``vosk.Model``: the first call loads it (blocking, seconds), later ones reuse it."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                vosk.SetLogLevel(_KALDI_LOG_LEVEL)
                try:
                    model = vosk.Model(str(self.path))
                except Exception as exc:  # vosk raises a bare Exception
                    raise ModelError(f"cannot load the Vosk model in {self.path}: {exc}") from exc
                self._unknown = next(
                    (t for t in _UNKNOWN_TOKENS if model.vosk_model_find_word(t) >= 0), None
                )
                self._model = model
                log.info("loaded Vosk model %s from %s", self._name, self.path)
        return self._model

    def has_word(self, word: str) -> bool:
        return bool(self.load().vosk_model_find_word(word) >= 0)

    @property
    def unknown_token(self) -> str | None:
        """The model's word for "anything else" in grammar mode, if it has one."""
        self.load()
        return self._unknown

    def recognizer(self) -> VoskRecognizer:
        return VoskRecognizer(self)

    def stream(self, sample_rate: int, phrases: Sequence[str] | None = None) -> VoskStream:
        """A live stream (``engine.StreamingModel``); loads the model if needed (blocking).
        Raises ``ModelError`` when ``phrases`` is given and the model can say none of them."""
        grammar = None if phrases is None else self.grammar(phrases)
        if grammar is not None and not grammar:
            raise ModelError(
                f"model {self._name} can say none of the phrases {list(phrases or ())}"
            )
        return VoskStream(self, sample_rate, grammar)

    def grammar(self, phrases: Sequence[str]) -> list[str]:
        """A Vosk grammar for ``phrases``: the sayable ones, plus the unknown-word token;
        empty when none is sayable."""
        grammar: list[str] = []
        for phrase in dict.fromkeys(phrases):
            words = self.vocabulary_phrase(phrase)
            if words is not None:
                grammar.append(words)
        unknown = self.unknown_token
        if grammar and unknown is not None:
            grammar.append(unknown)
        return grammar

    def vocabulary_phrase(self, phrase: str) -> str | None:
        """``phrase`` as space-separated vocabulary words, or None if the model can't say it.

        Mandarin phrases come unspaced (煤气泄漏) while the model's words may be shorter
        (煤气 泄漏): each token not in the vocabulary is split by longest match. A phrase with
        any unsayable part is dropped whole; Vosk would drop just that word, and 没有着火
        would become 着火.
        """
        if phrase in self._phrases:
            return self._phrases[phrase]
        result = self._split_phrase(phrase)
        if result is None:
            log.warning("model %s cannot spot %r: not in its vocabulary", self._name, phrase)
        if len(self._phrases) >= 10_000:  # vocabularies passed per call must not grow it forever
            self._phrases.clear()
        self._phrases[phrase] = result
        return result

    def _split_phrase(self, phrase: str) -> str | None:
        words: list[str] = []
        for token in phrase.split():
            if self.has_word(token):
                words.append(token)
                continue
            i = 0
            while i < len(token):
                for j in range(min(len(token), i + _MAX_WORD_CHARS), i, -1):
                    if self.has_word(token[i:j]):
                        words.append(token[i:j])
                        i = j
                        break
                else:
                    return None
        return " ".join(words) or None


class VoskRecognizer:
    """Implements ``engine.Recognizer``: a new ``KaldiRecognizer`` for every call.

    Results are not bit-for-bit repeatable within a process: Kaldi dithers the audio with
    noise seeded from the C library's ``rand()``, whose state every decode advances. Clear
    speech decodes the same; borderline words and utterance ends can differ between runs.
    """

    def __init__(self, model: VoskModel) -> None:
        self.model = model

    def transcribe(self, pcm: bytes, sample_rate: int) -> list[Segment]:
        return self._decode(pcm, sample_rate, grammar=None)

    def spot(self, pcm: bytes, sample_rate: int, phrases: Sequence[str]) -> list[Segment]:
        grammar = self.model.grammar(phrases)
        if not grammar:
            return []  # nothing sayable: an empty grammar would only produce garbage
        return self._decode(pcm, sample_rate, grammar=grammar)

    def _decode(self, pcm: bytes, sample_rate: int, grammar: list[str] | None) -> list[Segment]:
        if sample_rate <= 0:
            raise AudioFormatError(f"invalid sample rate {sample_rate}")
        if len(pcm) % 2:
            raise AudioFormatError("16-bit PCM must have an even number of bytes")
        model = self.model.load()
        rate = sample_rate
        # 8 kHz phone audio into a 16 kHz model: when the model allows upsampling (the PyPI
        # Korean model does) Kaldi resamples inside its front end with a windowed-sinc filter,
        # which costs less than a Python pass; on espeak speech neither it nor audioop.ratecv
        # was consistently more accurate (the missing 4-8 kHz band limits accuracy, not the
        # resampler). A model that refuses upsampling would make Kaldi fail on 8 kHz input,
        # so for those we resample here.
        if not self.model.features.accepts(rate):
            pcm = resample(pcm, rate, self.model.sample_rate)
            rate = self.model.sample_rate
        rec = _kaldi(model, rate, grammar)
        results: list[str] = []
        step = max(2, int(rate * _CHUNK_SECONDS) * 2)
        for i in range(0, len(pcm), step):
            if rec.AcceptWaveform(pcm[i : i + step]):
                results.append(rec.Result())
        results.append(rec.FinalResult())
        return [seg for r in results for seg in _segments(r)]


class VoskStream:
    """Implements ``engine.AudioStream``: one ``KaldiRecognizer`` kept across chunks, so the
    decoder's state (and Vosk's endpointer, which closes an utterance at a pause) carries on."""

    def __init__(self, model: VoskModel, sample_rate: int, grammar: list[str] | None) -> None:
        if sample_rate <= 0:
            raise AudioFormatError(f"invalid sample rate {sample_rate}")
        self._from_rate = sample_rate
        # Models that refuse 8 kHz get it resampled here, with ratecv's state across chunks.
        self._to_rate = sample_rate if model.features.accepts(sample_rate) else model.sample_rate
        self._ratecv_state: Any = None
        self._rec = _kaldi(model.load(), self._to_rate, grammar)
        self._partial = ""

    def accept(self, pcm: bytes) -> StreamUpdate:
        if len(pcm) % 2:
            raise AudioFormatError("16-bit PCM must have an even number of bytes")
        if self._to_rate != self._from_rate:
            pcm, self._ratecv_state = _ratecv(
                pcm, self._from_rate, self._to_rate, self._ratecv_state
            )
        if self._rec.AcceptWaveform(pcm):
            self._partial = ""
            return StreamUpdate(finals=tuple(_segments(self._rec.Result())))
        partial = str(json.loads(self._rec.PartialResult()).get("partial", ""))
        partial = " ".join(w for w in partial.split() if w not in _UNKNOWN_TOKENS)
        if partial == self._partial:
            return StreamUpdate()
        self._partial = partial
        return StreamUpdate(partial=partial)

    def finish(self) -> StreamUpdate:
        self._partial = ""
        return StreamUpdate(finals=tuple(_segments(self._rec.FinalResult())))


def _kaldi(model: Any, rate: int, grammar: list[str] | None) -> Any:
    if grammar is None:
        rec = vosk.KaldiRecognizer(model, rate)
    else:
        rec = vosk.KaldiRecognizer(model, rate, json.dumps(grammar, ensure_ascii=False))
    rec.SetWords(True)
    return rec


def _segments(result_json: str) -> list[Segment]:
    words = _words(json.loads(result_json).get("result", ()))
    out: list[Segment] = []
    first = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].start - words[i - 1].end >= _PAUSE_SECONDS:
            out.append(Segment.of(words[first:i]))
            first = i
    return out


def _words(raw: Iterable[dict[str, Any]]) -> list[Word]:
    return [
        Word(
            text=str(w["word"]),
            start=float(w["start"]),
            end=float(w["end"]),
            conf=float(w.get("conf", 1.0)),
        )
        for w in raw
        if w.get("word") not in _UNKNOWN_TOKENS
    ]

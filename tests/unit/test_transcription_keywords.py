"""Keyword alerts: the Mandarin default rules on recognised text, and spotting in real audio.

The audio tests use Korean phrases because the model that a registry ships is Korean; the
Mandarin rules are checked on text shaped like a Chinese model's output (spaced words).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.korean_speech import RATE, say, silence
from transcription.engine import Segment, Word
from transcription.keywords import (
    CATEGORY_LABELS_ZH,
    Alert,
    KeywordRule,
    default_rules,
    find_alerts,
    spot_alerts,
)
from transcription.post_call import Transcript, TranscriptLine
from transcription.vosk_engine import VoskModel

KOREAN_RULES = (
    KeywordRule("fire", "119", ("화재",)),
    KeywordRule("medical", "120", ("구급차",)),
)
# Everyday words for the grammar to map ordinary speech onto: the Korean model's "<UNK>"
# absorbs almost nothing, so without them any speech comes out as an alert word.
KOREAN_FILLERS = ("여보세요", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원")


def spaced(text: str, start: float, step: float = 0.3) -> Segment:
    """A segment as a Chinese model would return it: space-separated words, timed in turn."""
    words = [
        Word(w, start + i * step, start + (i + 1) * step, 1.0) for i, w in enumerate(text.split())
    ]
    return Segment.of(words)


def test_default_rules_cover_the_emergency_centres() -> None:
    rules = default_rules()
    by_category = {r.category: r for r in rules}
    assert {r.centre for r in rules} == {"110", "119", "120", "122"}
    assert {"着火", "救命"} <= set(by_category["fire"].phrases + by_category["police"].phrases)
    assert "车祸" in by_category["traffic"].phrases and by_category["traffic"].centre == "122"
    assert "煤气泄漏" in by_category["gas_leak"].phrases and by_category["gas_leak"].centre == "119"
    assert set(by_category) <= set(CATEGORY_LABELS_ZH)


def test_mandarin_text_matches_across_spaces() -> None:
    segments = [
        spaced("喂 你好 我 家 楼下 着 火 了", 1.0),
        spaced("厨房 里 煤气 泄漏 了", 5.0),
        spaced("路口 出 车祸 了 救命 啊", 9.0),
        spaced("我 想 问 一下 暖气 不 热 的 事", 14.0),
    ]
    alerts = find_alerts(segments, default_rules(), speaker="citizen")
    assert [(a.category, a.centre, a.phrase) for a in alerts] == [
        ("fire", "119", "着火"),
        ("gas_leak", "119", "煤气泄漏"),
        ("traffic", "122", "车祸"),
        ("police", "110", "救命"),
    ]
    assert [a.at for a in alerts] == pytest.approx([2.5, 5.6, 9.6, 10.2])
    assert {a.speaker for a in alerts} == {"citizen"}


def test_transcript_alerts_carry_the_speaker() -> None:
    transcript = Transcript(
        (
            TranscriptLine("citizen", 3.0, 5.0, "快 叫 救护车 他 晕倒 了"),
            TranscriptLine("agent", 6.0, 8.0, "好 的 我 帮 您 转 一 二 零"),
            TranscriptLine("citizen", 9.0, 10.0, "谢谢"),
        )
    )
    alerts = find_alerts(transcript, default_rules())
    # Text-only lines (no timed words) are timed at the start of the line.
    assert alerts == [
        Alert("medical", "120", "救护车", "citizen", 3.0),
        Alert("medical", "120", "晕倒", "citizen", 3.0),
    ]
    assert find_alerts(Transcript(()), default_rules()) == []


def test_repeated_phrases_alert_each_time() -> None:
    alerts = find_alerts([spaced("着火 了 着火 了", 0.0)], default_rules())
    assert [a.at for a in alerts] == [pytest.approx(0.0), pytest.approx(0.6)]
    assert all(a.speaker is None for a in alerts)


def test_spot_alerts_in_real_korean_speech(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(0.5) + say("여보세요 난방", tmp_path) + silence(1.0)
    fire_at = len(pcm) / 2 / RATE
    pcm += say("화재 주세요", tmp_path) + silence(0.5)
    alerts = spot_alerts(
        model.recognizer(), pcm, RATE, KOREAN_RULES, speaker="citizen", fillers=KOREAN_FILLERS
    )
    assert [(a.category, a.centre, a.phrase, a.speaker) for a in alerts] == [
        ("fire", "119", "화재", "citizen")
    ]
    assert fire_at - 0.2 <= alerts[0].at <= fire_at + 0.6


def test_no_alert_in_ordinary_speech(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(0.3) + say("엘리베이터 난방", tmp_path) + silence(0.3)
    rec = model.recognizer()
    assert spot_alerts(rec, pcm, RATE, KOREAN_RULES, fillers=KOREAN_FILLERS) == []


def test_min_conf_drops_unsure_words(model: VoskModel, tmp_path: Path) -> None:
    pcm = silence(0.3) + say("화재 주세요", tmp_path) + silence(0.3)
    rec = model.recognizer()

    def alerts(min_conf: float) -> list[Alert]:
        return spot_alerts(rec, pcm, RATE, KOREAN_RULES, fillers=KOREAN_FILLERS, min_conf=min_conf)

    assert [a.phrase for a in alerts(0.5)] == ["화재"]
    assert alerts(1.01) == []

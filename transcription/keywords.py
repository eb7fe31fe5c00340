"""Keyword alerts: emergency phrases in a call, with the centre the agent should transfer to.

Call flow: on a transcript (``find_alerts``, after ``post_call``) or straight on a leg's audio
(``spot_alerts``: grammar-restricted recognition, ~30x cheaper than full decoding) the rules
yield ``Alert``s; the app stores them on the ticket and shows them on the agent desk and the
wallboard with a one-key transfer to the centre (119, 120, 122, 110). Alerts are suggestions
for a person: matching is plain substring search, with no negation or context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from transcription.engine import Recognizer, Segment, Word
from transcription.post_call import Transcript

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class KeywordRule:
    """Phrases of one category; ``centre`` is the number to suggest (None: alert only)."""

    category: str
    centre: str | None
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Alert:
    """A phrase heard: who said it (if known) and when, in seconds from the call's start."""

    category: str
    centre: str | None
    phrase: str
    speaker: str | None
    at: float


CATEGORY_LABELS_ZH: Mapping[str, str] = {
    "fire": "火警",
    "gas_leak": "燃气泄漏",
    "medical": "医疗急救",
    "traffic": "交通事故",
    "police": "治安报警",
}


def default_rules() -> tuple[KeywordRule, ...]:
    """The Mandarin emergency lists; each maps to the emergency line that takes it over."""
    return (
        KeywordRule("fire", "119", ("着火", "失火", "起火", "火灾", "冒烟", "烧起来")),
        KeywordRule("gas_leak", "119", ("煤气泄漏", "燃气泄漏", "天然气泄漏", "煤气味", "燃气味")),
        KeywordRule(
            "medical",
            "120",
            ("救护车", "晕倒", "昏迷", "不省人事", "喘不上气", "心脏病", "大出血", "中毒"),
        ),
        KeywordRule("traffic", "122", ("车祸", "撞车", "交通事故", "追尾", "被车撞")),
        # 救命 alone says nothing of the kind of danger: 110 takes general emergencies.
        KeywordRule("police", "110", ("救命", "抢劫", "打人", "杀人", "绑架", "持刀", "报警")),
    )


@dataclass(frozen=True, slots=True)
class _Span:
    speaker: str | None
    words: tuple[Word, ...]
    text: str
    start: float


def _spans(source: Transcript | Iterable[Segment], speaker: str | None) -> list[_Span]:
    if isinstance(source, Transcript):
        return [_Span(ln.speaker, ln.words, ln.text, ln.start) for ln in source.lines]
    return [_Span(speaker, seg.words, seg.text, seg.start) for seg in source]


def _compact(span: _Span) -> tuple[str, list[float]]:
    """The span's text without spaces, and for each character the start of its word."""
    if span.words:
        text, times = "", []
        for w in span.words:
            chars = _SPACE.sub("", w.text)
            text += chars
            times += [w.start] * len(chars)
        return text, times
    text = _SPACE.sub("", span.text)
    return text, [span.start] * len(text)


def find_alerts(
    source: Transcript | Iterable[Segment],
    rules: Sequence[KeywordRule],
    *,
    speaker: str | None = None,
) -> list[Alert]:
    """Every rule phrase in the recognised text, in order of time.

    Spaces are ignored on both sides: Chinese models emit 煤气 泄漏 or 煤 气 泄 漏 for 煤气泄漏.
    ``speaker`` labels bare segments (a transcript's lines carry their own).
    """
    alerts: dict[tuple[str, str, str | None, float], Alert] = {}
    for span in _spans(source, speaker):
        text, times = _compact(span)
        for rule in rules:
            for phrase in rule.phrases:
                needle = _SPACE.sub("", phrase)
                if not needle:
                    continue
                at = text.find(needle)
                while at >= 0:
                    alert = Alert(rule.category, rule.centre, phrase, span.speaker, times[at])
                    alerts.setdefault((rule.category, phrase, span.speaker, times[at]), alert)
                    at = text.find(needle, at + 1)
    return sorted(alerts.values(), key=lambda a: (a.at, a.category, a.phrase))


def spot_alerts(
    recognizer: Recognizer,
    pcm: bytes,
    sample_rate: int,
    rules: Sequence[KeywordRule],
    *,
    speaker: str | None = None,
    fillers: Sequence[str] = (),
    min_conf: float = 0.0,
) -> list[Alert]:
    """Alerts from audio by grammar-restricted recognition of the rules' phrases.

    A grammar forces speech onto its phrases; models whose unknown-word token absorbs little
    (the PyPI Korean model) then "hear" alert phrases in ordinary talk. ``fillers`` are
    everyday phrases added to the grammar to take that speech instead; ``min_conf`` drops
    words the decoder was unsure of.
    """
    phrases = [p for rule in rules for p in rule.phrases] + list(fillers)
    segments = recognizer.spot(pcm, sample_rate, phrases)
    if min_conf > 0:
        kept = (tuple(w for w in seg.words if w.conf >= min_conf) for seg in segments)
        segments = [Segment.of(words) for words in kept if words]
    return find_alerts(segments, rules, speaker=speaker)

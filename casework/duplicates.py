"""Likely duplicates (并单): score a ticket against candidate tickets, and the unmerge limit.

Call flow: when a ticket is saved at the desk or arrives from a channel, the app's duplicates
service fetches its candidates (same caller, or same category and district, created within
``window_days``) by an indexed query and hands both here as :class:`Request` values;
:meth:`DuplicateRules.suggest` returns the ones whose score reaches the threshold, best first.
A merged ticket may be unmerged by a supervisor until :func:`unmerge_deadline`.

The score is a weighted sum of three signals, each 0–1:

- the caller: the same number (digits only, the last 11: ``+86 138-…`` is ``138…``) about
  the same category (or either has none yet);
- the place: the same category and alike addresses (NFKC, no spaces or punctuation, Chinese
  numerals as digits; the best of rapidfuzz ``partial_ratio``, so "济宁市任城区古槐路12号"
  contains "古槐路12号", and ``token_set_ratio`` over jieba's words, for the same streets in
  another order), zero when the house numbers disagree or the districts differ;
- the words: the mean of rapidfuzz ``token_set_ratio`` and ``token_sort_ratio`` over jieba's
  search-mode words without filler words, so the same matter told with other words still
  shares its nouns.

Pure rules: no I/O, no clock (every "now" is passed in). jieba loads its dictionary on the
first call (about a second), not at import.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import jieba
from rapidfuzz import fuzz

from casework.errors import CaseworkError
from casework.lifecycle import ALLOWED, TicketState
from core.duplicates import DuplicateSettings

# Words that say nothing about the matter: how citizens open, close and hedge a request.
_FILLER_WORDS = (
    "的 了 是 在 我 我们 你们 您 你 他 她 它 有 和 与 也 都 就 还 又 很 太 说 要 想 请 "
    "一下 一个 这个 那个 这 那 这里 那里 现在 已经 一直 没有 不 吗 呢 吧 啊 呀 哦 "
    "您好 你好 反映 市民 来电 诉求 希望 要求 请求 尽快 处理 解决 相关 部门 问题 情况 "
    "帮忙 麻烦 谢谢 能否 能不能 可以 一下子 而且 但是 因为 所以 如果 我家 家里"
)
FILLER = frozenset(_FILLER_WORDS.split())
_NUMERALS = str.maketrans("〇零一二两三四五六七八九", "001223456789")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_TENS = re.compile(r"(\d?)十(\d?)")  # 十二 → 12, 六十八 → 68, 二十 → 20 (after the digits)

# States a ticket may be merged from (the lifecycle's moves to merged), and so returns to.
MERGEABLE = frozenset(s for s, moves in ALLOWED.items() if TicketState.MERGED in moves)


class MergeRefused(CaseworkError):
    """A merge or unmerge the rules do not allow (the app answers 409)."""


@dataclass(frozen=True, slots=True)
class Request:
    """A ticket as the suggester sees it."""

    id: int
    created_at: datetime
    caller: str | None = None
    category: str | None = None
    district: str | None = None
    address: str | None = None
    text: str = ""  # summary and description


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A likely duplicate: the candidate's id, its score and what each signal gave."""

    ticket_id: int
    score: float
    same_caller: bool
    place: float
    text: float

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why, for the desk: 同一来电人, 同一地点同类诉求, 诉求内容相似."""
        found = []
        if self.same_caller:
            found.append("same_caller")
        if self.place > 0:
            found.append("same_place")
        if self.text >= 0.5:
            found.append("similar_text")
        return tuple(found)


def phone_key(number: str | None) -> str | None:
    """Digits only, the last 11 (a mobile number without +86 or a leading 0)."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return digits[-11:] or None


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), Chinese numerals as digits, no spaces/punctuation."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_NUMERALS)
    folded = _TENS.sub(lambda m: str(int(m[1] or 1) * 10 + int(m[2] or 0)), folded)
    return _NOT_WORD.sub("", folded)


@functools.lru_cache(maxsize=4096)
def words(text: str) -> tuple[str, ...]:
    """jieba's search-mode words of ``text``, without filler words and punctuation."""
    _quiet_jieba()
    found = []
    for word in jieba.cut_for_search(unicodedata.normalize("NFKC", text)):
        word = _NOT_WORD.sub("", word)
        if word and word not in FILLER:
            found.append(word)
    return tuple(found)


@functools.cache
def _quiet_jieba() -> None:
    # jieba announces its dictionary load on stderr at INFO; the app's log is enough.
    jieba.setLogLevel(logging.WARNING)


def text_similarity(a: str, b: str) -> float:
    """How alike two requests' words are, 0–1 (0 when either has none)."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    # token_set alone calls a short request contained in a longer one identical ("暖气不热"
    # in every heating complaint); token_sort alone punishes extra detail: the mean of both.
    joined_a, joined_b = " ".join(wa), " ".join(wb)
    both = fuzz.token_set_ratio(joined_a, joined_b) + fuzz.token_sort_ratio(joined_a, joined_b)
    return float(both) / 200


def address_similarity(a: str | None, b: str | None) -> float:
    """How alike two addresses are, 0–1; 0 when either is missing or their house numbers
    disagree (the numbers of the shorter must all appear in the longer)."""
    na, nb = normalise(a or ""), normalise(b or "")
    if not na or not nb:
        return 0.0
    short, long = sorted((na, nb), key=len)
    if not set(_DIGITS.findall(short)) <= set(_DIGITS.findall(long)):
        return 0.0
    # One contains the other ("古槐路12号" in "济宁市任城区古槐路12号"), or the same words in
    # another order (an intersection: "共青团路与吴泰闸路口", "吴泰闸路共青团路路口").
    contained = fuzz.partial_ratio(short, long)
    reordered = fuzz.token_set_ratio(" ".join(words(na)), " ".join(words(nb)))
    return float(max(contained, reordered)) / 100


class DuplicateRules:
    """The suggester, built once from ``[duplicates]``."""

    def __init__(self, settings: DuplicateSettings) -> None:
        self.settings = settings
        self.window = timedelta(days=settings.window_days)

    def score(self, ticket: Request, other: Request) -> Suggestion:
        s = self.settings
        caller = phone_key(ticket.caller)
        # The same citizen about another kind of matter is another request.
        kinds_agree = not (ticket.category and other.category) or ticket.category == other.category
        same_caller = caller is not None and caller == phone_key(other.caller) and kinds_agree
        place = 0.0
        districts_differ = bool(ticket.district and other.district) and (
            ticket.district != other.district
        )
        if ticket.category and ticket.category == other.category and not districts_differ:
            alike = address_similarity(ticket.address, other.address)
            place = alike if alike >= s.address_similarity else 0.0
        text = text_similarity(ticket.text, other.text)
        total = s.caller_weight * same_caller + s.place_weight * place + s.text_weight * text
        return Suggestion(other.id, round(total, 4), same_caller, round(place, 4), round(text, 4))

    def within_window(self, ticket: Request, other: Request) -> bool:
        return abs(ticket.created_at - other.created_at) <= self.window

    def suggest(self, ticket: Request, candidates: list[Request]) -> list[Suggestion]:
        """The candidates (other tickets within the window) that reach the threshold, best
        first (then the newest), at most ``shown``."""
        found = [
            self.score(ticket, other)
            for other in candidates
            if other.id != ticket.id and self.within_window(ticket, other)
        ]
        kept = [f for f in found if f.score >= self.settings.threshold]
        kept.sort(key=lambda f: (-f.score, -f.ticket_id))
        return kept[: self.settings.shown]


def unmerge_deadline(merged_at: datetime, settings: DuplicateSettings) -> datetime:
    """Until when a supervisor may unmerge a ticket merged at ``merged_at``."""
    return merged_at + timedelta(hours=settings.unmerge_hours)


def check_unmerge(
    ticket_id: int,
    prior: TicketState | None,
    merged_at: datetime | None,
    now: datetime,
    settings: DuplicateSettings,
) -> TicketState:
    """The state an unmerged ticket returns to; :class:`MergeRefused` after the time limit
    or for a ticket that was not merged."""
    if merged_at is None or prior is None:
        raise MergeRefused(f"ticket {ticket_id} is not merged")
    if prior not in MERGEABLE:
        raise MergeRefused(f"ticket {ticket_id}: cannot return to {prior}")
    deadline = unmerge_deadline(merged_at, settings)
    if now > deadline:
        raise MergeRefused(
            f"ticket {ticket_id} was merged at {merged_at.isoformat()}: it could be unmerged "
            f"until {deadline.isoformat()} ({settings.unmerge_hours:g} h)"
        )
    return prior

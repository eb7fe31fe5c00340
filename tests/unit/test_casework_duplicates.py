"""The duplicate suggester's rules (casework.duplicates): each signal, the threshold, the
window, the unmerge limit with an injected clock, and the [duplicates] settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from casework.duplicates import (
    DuplicateRules,
    MergeRefused,
    Request,
    address_similarity,
    check_unmerge,
    normalise,
    phone_key,
    text_similarity,
    unmerge_deadline,
)
from casework.lifecycle import TicketState
from core.duplicates import DuplicateSettings
from core.settings import SettingsError, load_settings
from tests.unit.test_settings import GOOD, write

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = DuplicateRules(DuplicateSettings())


def req(ticket_id: int, days: float = 0, **kw: str | None) -> Request:
    return Request(id=ticket_id, created_at=T0 + timedelta(days=days), **kw)  # type: ignore[arg-type]


def test_numbers_and_addresses_are_normalised() -> None:
    assert phone_key("+86 138-0537-1234") == phone_key("13805371234") == "13805371234"
    assert phone_key("") is None and phone_key(None) is None
    assert normalise("古槐路１８号 五号楼") == "古槐路18号5号楼"
    assert normalise("洸河路六十八号") == "洸河路68号"


def test_addresses_alike_contained_reordered_not_other_numbers() -> None:
    assert address_similarity("济宁市任城区古槐路12号", "古槐路１２号") == 1.0
    assert address_similarity("共青团路与吴泰闸路口", "吴泰闸路共青团路路口") >= 0.8
    assert address_similarity("运河城小区1号楼", "运河城小区7号楼") == 0.0
    assert address_similarity("圣地香城二期", "圣地香城一期") == 0.0
    assert address_similarity(None, "古槐路") == 0.0


def test_text_similarity_uses_words_not_filler() -> None:
    same = text_similarity(
        "楼下烧烤店每天晚上排风机响到凌晨两点", "您好，我反映一下楼下烧烤店的排风机晚上响到凌晨"
    )
    other = text_similarity("楼下烧烤店每天晚上排风机响到凌晨两点", "孩子的医保怎么在网上交费")
    assert same > 0.6 > 0.3 > other
    assert text_similarity("", "路灯不亮") == 0.0
    assert text_similarity("的了吗", "路灯不亮") == 0.0


def test_same_caller_same_matter_is_suggested_other_category_is_not() -> None:
    a = req(1, caller="13805371234", category="噪音", text="楼下烧烤店排风机太吵到凌晨")
    b = req(2, 2, caller="+86 13805371234", category="噪音", text="烧烤店风机噪音还是没人管")
    c = req(3, 1, caller="13805371234", category="物业", text="物业费涨了一倍不合理")
    found = RULES.suggest(b, [a, c])
    assert [s.ticket_id for s in found] == [1]
    assert found[0].same_caller and "same_caller" in found[0].reasons
    assert not RULES.score(b, c).same_caller


def test_same_place_and_category_from_another_citizen() -> None:
    a = req(1, caller="1", category="路灯", address="梁山县水泊北路", text="路灯杆被车撞倒电线外露")
    b = req(2, 0.3, category="路灯", address="水泊北路中段", text="一根路灯杆倒了，电线裸露")
    found = RULES.suggest(b, [a])
    assert found and found[0].place >= 0.8 and "same_place" in found[0].reasons
    # Another district: not the same place, whatever the address says.
    a2 = req(3, category="路灯", district="rencheng", address="建设路", text="路灯不亮")
    b2 = req(4, category="路灯", district="yanzhou", address="建设路", text="路灯不亮")
    assert RULES.score(b2, a2).place == 0.0


def test_threshold_decides() -> None:
    a = req(1, caller="13805371234", category="噪音", text="工地夜间打桩")
    b = req(2, 1, caller="13805371234", category="噪音", text="广场舞音响太大")
    score = RULES.score(b, a).score
    assert RULES.suggest(b, [a]) == [] or score >= RULES.settings.threshold
    strict = DuplicateRules(DuplicateSettings(threshold=min(1.0, score + 0.01)))
    loose = DuplicateRules(DuplicateSettings(threshold=max(0.01, score - 0.01)))
    assert strict.suggest(b, [a]) == [] and loose.suggest(b, [a])


def test_window_both_ways_and_self_left_out() -> None:
    days = RULES.settings.window_days
    a = req(1, caller="13805371234", category="噪音", text="烧烤店排风机太吵")
    inside = req(2, days, caller="13805371234", category="噪音", text="烧烤店排风机太吵")
    outside = req(3, days + 0.01, caller="13805371234", category="噪音", text="烧烤店排风机太吵")
    assert [s.ticket_id for s in RULES.suggest(inside, [a, inside])] == [1]
    assert RULES.suggest(outside, [a]) == []
    assert [s.ticket_id for s in RULES.suggest(a, [inside])] == [2]


def test_best_first_and_at_most_shown() -> None:
    rules = DuplicateRules(DuplicateSettings(shown=2))
    me = req(10, caller="13805371234", category="噪音", text="烧烤店排风机太吵")
    others = [
        req(i, caller="13805371234", category="噪音", text=t)
        for i, t in ((1, "烧烤店排风机太吵"), (2, "烧烤店太吵"), (3, "排风机"))
    ]
    found = rules.suggest(me, others)
    assert len(found) == 2 and found[0].ticket_id == 1
    assert found[0].score >= found[1].score


def test_unmerge_within_the_limit_only() -> None:
    s = DuplicateSettings(unmerge_hours=24)
    merged = T0
    assert unmerge_deadline(merged, s) == T0 + timedelta(hours=24)
    now = T0 + timedelta(hours=23, minutes=59)
    assert check_unmerge(7, TicketState.REGISTERED, merged, now, s) is TicketState.REGISTERED
    assert check_unmerge(7, TicketState.DRAFT, merged, now, s) is TicketState.DRAFT
    with pytest.raises(MergeRefused, match="until"):
        check_unmerge(7, TicketState.REGISTERED, merged, T0 + timedelta(hours=24, seconds=1), s)
    with pytest.raises(MergeRefused, match="not merged"):
        check_unmerge(7, None, None, now, s)
    with pytest.raises(MergeRefused, match="cannot return"):
        check_unmerge(7, TicketState.CLOSED, merged, now, s)


@pytest.mark.parametrize(
    "bad",
    [
        {"window_days": 0},
        {"threshold": 0},
        {"threshold": 1.5},
        {"caller_weight": -0.1},
        {"unmerge_hours": 0},
        {"caller_weight": 0.1, "place_weight": 0.1, "text_weight": 0.1, "threshold": 0.5},
        {"unknown": 1},
    ],
)
def test_settings_refuse_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DuplicateSettings.model_validate(bad)


def test_the_settings_file_section_is_checked_at_start_up(tmp_path: Path) -> None:
    """[duplicates] in the node's settings file: read, and a bad value stops start-up with
    the field named."""
    good = load_settings(write(tmp_path, GOOD + "\n[duplicates]\nwindow_days = 7\n"))
    assert good.duplicates.window_days == 7 and good.duplicates.unmerge_hours == 24
    with pytest.raises(SettingsError, match=r"duplicates.*highest possible score"):
        load_settings(
            write(tmp_path, GOOD + "\n[duplicates]\nthreshold = 0.9\ntext_weight = 0.1\n")
        )

"""The knowledge base's service on SQLite (FTS5, bm25) and PostgreSQL (tsvector, GIN,
ts_rank): ranking, the validity window on an injected clock, versions, department-only
editing, and queries with odd characters answered without an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.auth.service import Principal, Role
from app.departments.service import DepartmentService
from app.knowledge.service import ArticleText, KnowledgeBase, KnowledgeRefused
from app.migrate import upgrade
from core.db import create_engine, session_factory
from tests.conftest import make_settings

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ADMIN = Principal(username="root", role=Role.ADMIN)
HEDONG = Principal(username="hd", role=Role.DEPARTMENT, department="hedong")
DAY = timedelta(days=1)


@dataclass
class Clock:
    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Bed:
    kb: KnowledgeBase
    clock: Clock


@pytest.fixture
async def bed(tmp_path: Path, db_url: str) -> AsyncIterator[Bed]:
    settings = make_settings(tmp_path, database_url=db_url)
    upgrade(settings.db_url)
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    clock = Clock()
    departments = DepartmentService(sessions, clock)
    await departments.load_if_empty(settings.catalogue_file)
    try:
        yield Bed(KnowledgeBase(sessions, departments, clock), clock)
    finally:
        await engine.dispose()


def text(question: str, answer: str, department: str = "hedong", **kw: object) -> ArticleText:
    fields: dict[str, object] = {
        "category": None,
        "valid_from": None,
        "valid_to": None,
        **kw,
    }
    return ArticleText(question=question, answer=answer, department=department, **fields)  # type: ignore[arg-type]


async def test_the_best_match_ranks_first_and_question_words_weigh_more(bed: Bed) -> None:
    kb = bed.kb
    fund = await kb.create(text("公积金提取需要哪些材料", "身份证、银行卡和购房合同。"), ADMIN)
    noise = await kb.create(text("夜间施工噪音扰民怎么办", "可向城管部门投诉。"), ADMIN)
    await kb.create(text("医保卡丢了怎么补办", "携带身份证到医保窗口补办。"), ADMIN)
    # 身份证 is in two answers; a question that says 公积金 wins.
    hits = await kb.search("我想提取公积金，要带身份证吗")
    assert hits[0].article.id == fund.id
    assert hits[0].score > hits[-1].score or len(hits) == 1
    hits = await kb.search("工地晚上施工太吵了，噪音很大")
    assert [h.article.id for h in hits][:1] == [noise.id]
    assert await kb.search("完全无关的火星文字") == []


@pytest.mark.parametrize(
    "odd",
    ['"', "'", '公积金" OR "', "NEAR(公积金", "\x00", "*", "' | '", "a" * 10_000, "(((", ""],
)
async def test_odd_queries_never_fail(bed: Bed, odd: str) -> None:
    await bed.kb.create(text("公积金提取", "带身份证。"), ADMIN)
    await bed.kb.search(odd)  # no exception: at worst nothing found


async def test_only_currently_valid_articles_are_offered(bed: Bed) -> None:
    kb, clock = bed.kb, bed.clock
    later = await kb.create(text("供暖费补贴申请", "每年十月申请。", valid_from=T0 + DAY), ADMIN)
    ending = await kb.create(text("供暖费缴纳期限", "十一月底前。", valid_to=T0 + 2 * DAY), ADMIN)
    assert [h.article.id for h in await kb.search("供暖费")] == [ending.id]
    clock.at = T0 + DAY
    assert {h.article.id for h in await kb.search("供暖费")} == {later.id, ending.id}
    clock.at = T0 + 2 * DAY  # valid_to is the first moment it is no longer offered
    assert [h.article.id for h in await kb.search("供暖费")] == [later.id]
    expired = await kb.search("供暖费", include_expired=True)
    assert {h.article.id for h in expired} == {later.id, ending.id}
    current = await kb.articles(scope=None, current_only=True, limit=10)
    assert [a.id for a in current] == [later.id]
    with pytest.raises(KnowledgeRefused):
        await kb.create(text("错", "错", valid_from=T0, valid_to=T0), ADMIN)


async def test_every_edit_is_a_new_version_and_old_ones_stay(bed: Bed) -> None:
    kb, clock = bed.kb, bed.clock
    article = await kb.create(text("停水通知在哪看", "关注自来水公司公众号。"), ADMIN)
    clock.at = T0 + timedelta(hours=1)
    await kb.edit(article.id, text("停水通知在哪看", "拨打96777或看官网。"), HEDONG)
    edited = await kb.edit(article.id, text("停水停电通知在哪看", "拨打96777。"), ADMIN)
    assert edited.version == 3 and [v.version for v in edited.versions] == [1, 2, 3]
    first = await kb.version(article.id, 1)
    assert first.answer == "关注自来水公司公众号。" and first.edited_by == "admin:root"
    assert (await kb.version(article.id, 2)).edited_by == "department:hd"
    # The index follows the current text only.
    assert await kb.search("公众号") == []
    assert [h.article.id for h in await kb.search("停电")] == [article.id]
    with pytest.raises(LookupError):
        await kb.version(article.id, 4)


async def test_departments_edit_only_their_own_articles(bed: Bed) -> None:
    kb = bed.kb
    ours = await kb.create(text("河东区办事大厅地址", "河东路1号。"), HEDONG)
    below = await kb.create(text("东关街道地址", "东关路2号。", "hedong.dongguan"), HEDONG)
    theirs = await kb.create(text("河西区办事大厅地址", "河西路3号。", "hexi"), ADMIN)
    assert ours.updated_by == "department:hd" and below.department == "hedong.dongguan"
    with pytest.raises(KnowledgeRefused) as refused:
        await kb.create(text("河西", "不是我的", "hexi"), HEDONG)
    assert refused.value.status == 403
    with pytest.raises(KnowledgeRefused):
        await kb.edit(theirs.id, text("河西区办事大厅地址", "改", "hedong"), HEDONG)
    with pytest.raises(KnowledgeRefused):  # nor give its own article away
        await kb.edit(ours.id, text("河东区办事大厅地址", "改", "hexi"), HEDONG)
    with pytest.raises(KnowledgeRefused) as unknown:
        await kb.create(text("无", "无", "nowhere"), ADMIN)
    assert unknown.value.status == 422
    scope = await kb.scope_of(HEDONG)
    listed = await kb.articles(scope=scope, current_only=False, limit=10)
    assert {a.id for a in listed} == {ours.id, below.id}
    found = await kb.search("办事大厅地址", scope=scope)
    assert {h.article.id for h in found} == {ours.id, below.id}  # not hexi's

"""Routes of the knowledge base (知识库): search (the desk's suggestions), the articles with
their versions and use counts, and their editing by admins (every article) and department
users (their own departments' articles, and those below them). The direct answer that cites
an article is a ticket move: ``POST /api/tickets/{id}/direct-answer`` in ``app.cases.http``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app.auth.service import Principal, Role
from app.edge import READERS, CurrentUser, RowId, RuntimeDep, allow
from app.knowledge.service import ArticleText, KnowledgeRefused
from app.models import KbArticle
from app.runtime import Runtime

router = APIRouter(prefix="/api/kb")
EDITORS = allow(Role.DEPARTMENT)  # and admins

# Text that PostgreSQL can store: no NUL (a clear 422 instead of a database error).
_NO_NUL = r"^[^\x00]*$"


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 has no UTC time
        raise ValueError("the time is out of range") from exc


Moment = Annotated[AwareDatetime, AfterValidator(_utc)]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=500, pattern=_NO_NUL)
    answer: str = Field(min_length=1, max_length=10_000, pattern=_NO_NUL)
    category: str | None = Field(default=None, max_length=64, pattern=_NO_NUL)
    department: str = Field(min_length=1, max_length=64, pattern=_NO_NUL)
    valid_from: Moment | None = None  # default: now
    valid_to: Moment | None = None  # default: open-ended


class _Written(BaseModel):
    """What an editor wrote, in a version and in the article as it stands."""

    model_config = ConfigDict(from_attributes=True)
    version: int
    question: str
    answer: str
    category: str | None
    department: str
    valid_from: datetime
    valid_to: datetime | None


class VersionOut(_Written):
    edited_by: str
    edited_at: datetime


class ArticleOut(_Written):
    id: int
    use_count: int  # direct answers (答复并办结) that cited it
    updated_at: datetime
    updated_by: str


class ArticleDetailOut(ArticleOut):
    versions: list[VersionOut]  # oldest first, the current one last


class HitOut(ArticleOut):
    score: float  # higher is better (bm25 on SQLite, ts_rank on PostgreSQL)


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except KnowledgeRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def _text(body: ArticleIn) -> ArticleText:
    return ArticleText(**body.model_dump())


async def _readable(rt: Runtime, who: Principal, article: KbArticle) -> None:
    """A department user reads only its own departments' articles (404 for another's)."""
    scope = await rt.knowledge.scope_of(who) if who.role is Role.DEPARTMENT else None
    if scope is not None and article.department not in scope:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article.id} does not exist")


async def _reading_scope(rt: Runtime, who: Principal) -> frozenset[str] | None:
    return await rt.knowledge.scope_of(who) if who.role is Role.DEPARTMENT else None


@router.get("/search", response_model=list[HitOut], dependencies=[READERS])
async def search(
    rt: RuntimeDep,
    who: CurrentUser,
    q: Annotated[str, Query(max_length=4000)],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    category: Annotated[str | None, Query(max_length=64, pattern=_NO_NUL)] = None,
    include_expired: bool = False,
) -> Any:
    """The best-matching articles, currently valid ones only unless ``include_expired``. Any
    text may be sent: it is cut into words (jieba), quotes and operators dropped."""
    hits = await rt.knowledge.search(
        q,
        limit=limit,
        scope=await _reading_scope(rt, who),
        category=category,
        include_expired=include_expired,
    )
    return [
        HitOut.model_validate(
            {**ArticleOut.model_validate(h.article).model_dump(), "score": h.score}
        )
        for h in hits
    ]


@router.get("/articles", response_model=list[ArticleOut], dependencies=[READERS])
async def list_articles(
    rt: RuntimeDep,
    who: CurrentUser,
    current: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Any:
    """Articles, the latest edited first, with their use counts (答复并办结 citing them);
    ``current``: only those valid now."""
    return await rt.knowledge.articles(
        scope=await _reading_scope(rt, who), current_only=current, limit=limit, offset=offset
    )


@router.post(
    "/articles",
    response_model=ArticleDetailOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[EDITORS],
)
async def create_article(body: ArticleIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    """A new article (version 1), of a department the caller manages."""
    with refusals():
        return await rt.knowledge.create(_text(body), who)


@router.get("/articles/{article_id}", response_model=ArticleDetailOut, dependencies=[READERS])
async def get_article(article_id: RowId, rt: RuntimeDep, who: CurrentUser) -> Any:
    """The article as it stands, with every version."""
    with refusals():
        article = await rt.knowledge.get(article_id)
    await _readable(rt, who, article)
    return article


@router.put("/articles/{article_id}", response_model=ArticleDetailOut, dependencies=[EDITORS])
async def edit_article(article_id: RowId, body: ArticleIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    """Save a new version (the earlier ones stay readable)."""
    with refusals():
        article = await rt.knowledge.get(article_id)
        await _readable(rt, who, article)
        return await rt.knowledge.edit(article_id, _text(body), who)


@router.get(
    "/articles/{article_id}/versions/{version}",
    response_model=VersionOut,
    dependencies=[READERS],
)
async def get_version(
    article_id: RowId,
    version: RowId,
    rt: RuntimeDep,
    who: CurrentUser,
) -> Any:
    """One version of an article, as it was written."""
    with refusals():
        await _readable(rt, who, await rt.knowledge.get(article_id))
        return await rt.knowledge.version(article_id, version)

"""The knowledge base (知识库): articles with their versions, the full-text search the desk
asks while the agent types or the citizen speaks, and the citation a direct answer (直接答复)
writes in the transaction that moves the ticket to ``answered``.

Search: ``knowledge.query_tokens`` turns any query into plain tokens; SQLite matches them in
the FTS5 table (bm25), PostgreSQL in the GIN-indexed tsvector (ts_rank); both keep only the
articles valid at the clock's now (migration 0016 builds both indexes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.auth.service import Principal, Role
from app.departments.service import DepartmentService
from app.models import KbArticle, KbArticleVersion, KbTerm, KbUse, Ticket
from casework.lifecycle import TicketState
from core.events import utcnow
from knowledge import (
    ArticleWindowError,
    check_window,
    distinct,
    fts5_match,
    index_tokens,
    is_current,
    query_tokens,
    rounds,
    tsquery,
)

# bm25 column weights (question, answer + category): a question that says it ranks first.
_FTS = table("kb_articles_fts")
_BM25 = func.bm25(literal_column("kb_articles_fts"), 3.0, 1.0)
_PG_VECTOR: ColumnElement[Any] = literal_column("kb_articles.search_vector")


class KnowledgeRefused(ValueError):
    """A request the knowledge base cannot do; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ArticleText:
    """What an editor writes; every save of it is a new version."""

    question: str
    answer: str
    category: str | None
    department: str
    valid_from: datetime | None  # None: from now
    valid_to: datetime | None


@dataclass(frozen=True)
class Hit:
    article: KbArticle
    score: float  # higher is better on both databases


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; ours are all stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


async def count_terms(session: AsyncSession, *, added: set[str], removed: set[str]) -> None:
    """Keep ``kb_terms`` (articles per word) in step with an article's words, in its
    transaction; in sorted order, so two edits lock the same rows in the same order."""
    if added:
        postgres = session.get_bind().dialect.name == "postgresql"
        insert = pg_insert(KbTerm) if postgres else sqlite_insert(KbTerm)
        upsert = insert.values([{"term": t, "docs": 1} for t in sorted(added)])
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=[KbTerm.term], set_={"docs": KbTerm.docs + 1}
            )
        )
    if removed:
        await session.execute(
            update(KbTerm).where(KbTerm.term.in_(sorted(removed))).values(docs=KbTerm.docs - 1)
        )


class KnowledgeBase:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        departments: DepartmentService,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._departments = departments
        self._now = now

    # --- who may edit what ------------------------------------------------------------------

    async def scope_of(self, who: Principal) -> frozenset[str] | None:
        """The departments whose articles ``who`` manages; None: all (admins)."""
        if who.role is Role.ADMIN:
            return None
        if who.role is Role.DEPARTMENT:
            return await self._departments.scope(who.department)
        return frozenset()

    async def _check_owner(self, who: Principal, department: str) -> None:
        scope = await self.scope_of(who)
        if scope is not None and department not in scope:
            raise KnowledgeRefused(
                f"articles of department {department!r} are not yours to edit", 403
            )
        if not await self._departments.exists(department):
            raise KnowledgeRefused(f"unknown department {department!r}", 422)

    # --- articles and versions --------------------------------------------------------------

    async def create(self, text: ArticleText, who: Principal) -> KbArticle:
        await self._check_owner(who, text.department)
        now = self._now()
        article = KbArticle(version=0, use_count=0, created_at=now)
        async with self._sessions.begin() as session:
            session.add(article)
            await self._write(session, article, text, who, now)
        return await self.get(article.id)

    async def edit(self, article_id: int, text: ArticleText, who: Principal) -> KbArticle:
        """A new version; the earlier ones stay as they were. Moving an article to another
        department needs the right to both."""
        now = self._now()
        async with self._sessions.begin() as session:
            article = await session.get(KbArticle, article_id, with_for_update=True)
            if article is None:
                raise LookupError(f"article {article_id} does not exist")
            await self._check_owner(who, article.department)
            await self._check_owner(who, text.department)
            await self._write(session, article, text, who, now)
        return await self.get(article_id)

    async def _write(
        self,
        session: AsyncSession,
        article: KbArticle,
        text: ArticleText,
        who: Principal,
        now: datetime,
    ) -> None:
        valid_from = text.valid_from or now
        try:
            check_window(valid_from, text.valid_to)
        except ArticleWindowError as exc:
            raise KnowledgeRefused(str(exc), 422) from exc
        before = (
            distinct(f"{article.question_tokens} {article.body_tokens}") if article.id else set()
        )
        article.version += 1
        article.question, article.answer = text.question, text.answer
        article.category, article.department = text.category, text.department
        article.valid_from, article.valid_to = valid_from, text.valid_to
        article.question_tokens = index_tokens(text.question)
        article.body_tokens = index_tokens(text.answer, text.category)
        article.updated_at, article.updated_by = now, who.actor
        after = distinct(f"{article.question_tokens} {article.body_tokens}")
        await count_terms(session, added=after - before, removed=before - after)
        session.add(
            KbArticleVersion(
                article=article,
                version=article.version,
                question=text.question,
                answer=text.answer,
                category=text.category,
                department=text.department,
                valid_from=valid_from,
                valid_to=text.valid_to,
                edited_by=who.actor,
                edited_at=now,
            )
        )

    async def get(self, article_id: int) -> KbArticle:
        async with self._sessions() as session:
            found = await session.get(
                KbArticle, article_id, options=[selectinload(KbArticle.versions)]
            )
        if found is None:
            raise LookupError(f"article {article_id} does not exist")
        return found

    async def version(self, article_id: int, version: int) -> KbArticleVersion:
        async with self._sessions() as session:
            found = await session.scalar(
                select(KbArticleVersion).where(
                    KbArticleVersion.article_id == article_id, KbArticleVersion.version == version
                )
            )
        if found is None:
            raise LookupError(f"article {article_id} has no version {version}")
        return found

    async def articles(
        self,
        *,
        scope: frozenset[str] | None,
        current_only: bool,
        limit: int,
        offset: int = 0,
    ) -> Sequence[KbArticle]:
        """The management list: newest edit first, with use counts."""
        stmt = (
            select(KbArticle)
            .where(*self._conditions(scope, self._now() if current_only else None))
            .order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
        )
        async with self._sessions() as session:
            return (await session.scalars(stmt.limit(limit).offset(offset))).all()

    @staticmethod
    def _conditions(scope: frozenset[str] | None, at: datetime | None) -> list[ColumnElement[bool]]:
        """Only ``scope``'s departments (None: all); only articles valid at ``at`` (None: all)."""
        where: list[ColumnElement[bool]] = []
        if scope is not None:
            where.append(KbArticle.department.in_(scope))
        if at is not None:
            where.append(KbArticle.valid_from <= at)
            where.append(or_(KbArticle.valid_to.is_(None), KbArticle.valid_to > at))
        return where

    # --- search -----------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        limit: int = 5,
        scope: frozenset[str] | None = None,
        category: str | None = None,
        include_expired: bool = False,
    ) -> list[Hit]:
        """The best articles for ``query`` (any text; odd characters are dropped by the
        tokenizer), valid now unless ``include_expired``: those holding the most of the
        query's rarest words first (``knowledge.rounds``), ranked within each round."""
        tokens = query_tokens(query)
        if not tokens:
            return []
        where = self._conditions(scope, None if include_expired else self._now())
        if category:
            where.append(KbArticle.category == category)
        async with self._sessions() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            ranked = _ranked_pg if postgres else _ranked_sqlite
            counts = await session.execute(
                select(KbTerm.term, KbTerm.docs).where(KbTerm.term.in_(tokens))
            )
            plan = rounds(tokens, {term: n for term, n in counts.all()})
            if not plan:
                return []
            # Round after round, each one statement of ids and scores (cheap: the AND rounds
            # are bounded by their rarest word), until enough are found; then the articles.
            scores: dict[int, float] = {}
            for n, (words, all_of) in enumerate(plan):
                rows = await session.execute(ranked(words, all_of, where, limit, n))
                for article_id, score, _ in rows.all():
                    scores.setdefault(article_id, float(score))
                if len(scores) >= limit:
                    break
            best = list(scores)[:limit]
            loaded = await session.scalars(select(KbArticle).where(KbArticle.id.in_(best)))
            articles = {a.id: a for a in loaded}
        return [Hit(articles[i], scores[i]) for i in best]

    # --- direct answers ---------------------------------------------------------------------

    async def cite(
        self, session: AsyncSession, ticket: Ticket, article_id: int, version: int, actor: str
    ) -> KbUse:
        """In the transaction that moves ``ticket`` to answered: the article (valid now, the
        version the agent read) is cited and its use counted."""
        article = await session.get(KbArticle, article_id, with_for_update=True)
        if article is None:
            raise LookupError(f"article {article_id} does not exist")
        if not 1 <= version <= article.version:
            raise LookupError(f"article {article_id} has no version {version}")
        now = self._now()
        if not is_current(_aware(article.valid_from), _aware_or_none(article.valid_to), now):
            raise KnowledgeRefused(f"article {article_id} is not valid now")
        if ticket.state is not TicketState.ANSWERED:
            raise KnowledgeRefused(f"ticket {ticket.id} was not answered directly")
        article.use_count += 1
        use = KbUse(
            article_id=article_id, version=version, ticket_id=ticket.id, actor=actor, at=now
        )
        session.add(use)
        return use

    async def citation(self, ticket_id: int) -> KbUse | None:
        async with self._sessions() as session:
            return await session.scalar(select(KbUse).where(KbUse.ticket_id == ticket_id))


def _ranked_sqlite(
    words: list[str], all_of: bool, where: list[ColumnElement[bool]], limit: int, n: int
) -> Select[int, float, int]:
    """Round ``n``: FTS5 over the articles' tokens, best bm25 first (FTS5's bm25 is lower for
    better: negated, so that higher is better on both databases)."""
    score = -_BM25
    return (
        select(KbArticle.id, score.label("score"), literal(n).label("round"))
        .join(_FTS, literal_column("kb_articles_fts.rowid") == KbArticle.id)
        .where(literal_column("kb_articles_fts").op("MATCH")(fts5_match(words, all_of)))
        .where(*where)
        .order_by(score.desc(), KbArticle.id)
        .limit(limit)
    )


def _ranked_pg(
    words: list[str], all_of: bool, where: list[ColumnElement[bool]], limit: int, n: int
) -> Select[int, float, int]:
    """Round ``n``: the GIN-indexed tsvector, best ts_rank first."""
    q = func.to_tsquery(literal_column("'simple'::regconfig"), tsquery(words, all_of))
    score = func.ts_rank(_PG_VECTOR, q)
    return (
        select(KbArticle.id, score.label("score"), literal(n).label("round"))
        .where(_PG_VECTOR.op("@@")(q))
        .where(*where)
        .order_by(score.desc(), KbArticle.id)
        .limit(limit)
    )


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)

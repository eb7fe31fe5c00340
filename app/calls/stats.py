"""Per-number statistics: what the operator reads to decide when a retired number can go.

Calls per service number per local day: offered, answered, abandoned, unanswered, and how
often Asterisk played the number's notice (transition or stop notice).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call
from ivr.numberplan import NumberPlan, RetiredLine, SpecialisedLine, Subcentre


@dataclass(frozen=True)
class NumberDay:
    number: str
    name: str
    kind: str  # main, retired, specialised, subcentre, unknown
    offered: int
    answered: int
    abandoned: int
    unanswered: int
    notice_played: int


class NumberStats:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        plan: Callable[[], NumberPlan],
        tz: zoneinfo.ZoneInfo,
    ) -> None:
        self._sessions = sessions
        self._plan = plan
        self._tz = tz

    async def day(self, day: date) -> list[NumberDay]:
        start = datetime.combine(day, time(), self._tz).astimezone(UTC)
        end = start + timedelta(days=1)
        played = (Call.prompt_status == "SUCCESS") & (
            Call.prompt.like("notice-%") | Call.prompt.like("stopped-%")
        )

        def count(cond: ColumnElement[bool]) -> ColumnElement[int]:
            return func.sum(case((cond, 1), else_=0))

        stmt = (
            select(
                Call.dialled,
                func.count(),
                count(Call.outcome == "answered"),
                count(Call.outcome == "abandoned"),
                count(Call.outcome == "unanswered"),
                count(played),
            )
            .where(Call.started_at >= start, Call.started_at < end)
            .group_by(Call.dialled)
        )
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        counts = {r[0]: tuple(int(v or 0) for v in r[1:]) for r in rows}
        plan = self._plan()
        out = []
        for number in [*plan.inbound_numbers(), *sorted(set(counts) - set(plan.inbound_numbers()))]:
            line = plan.find(number)
            kind = (
                "retired"
                if isinstance(line, RetiredLine)
                else "specialised"
                if isinstance(line, SpecialisedLine)
                else "subcentre"
                if isinstance(line, Subcentre)
                else "main"
                if line is plan.main
                else "unknown"
            )
            offered, answered, abandoned, unanswered, notices = counts.get(number, (0,) * 5)
            out.append(
                NumberDay(
                    number,
                    line.name if line else number,
                    kind,
                    offered,
                    answered,
                    abandoned,
                    unanswered,
                    notices,
                )
            )
        return out

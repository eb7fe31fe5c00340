"""bench/kpis.py at a tiny size on SQLite, so the bench cannot rot: it seeds on main's schema,
back-fills the KPI facts by the head's migration, measures the KPI service beside its two
baseline SQL (over the facts, over the raw tables), and the seeded rows give the figures the
plan says (every call offered, 90 % answered)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.departments.service import DepartmentService
from app.kpis.service import KpiService
from bench import kpis as bench
from core.db import create_engine, session_factory
from core.kpis import KpiSettings
from kpis import Dimension


def test_bench_runs_small_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    size = ["--calls", "3000", "--tickets", "2000", "--agents", "5", "--runs", "1"]
    assert bench.main([*size, "--db", "sqlite", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "head's facts back-filled" in out
    for label in ("city month", "department ranking"):
        assert f"sqlite     {label}" in out, out
    assert "raw-table baseline" in out and "ratio" in out
    assert time.monotonic() - started < 10

    async def month() -> dict[str, float]:
        engine = create_engine(f"sqlite:///{tmp_path / 'kpis.db'}")
        try:
            sessions = session_factory(engine)
            kpi = KpiService(
                sessions, DepartmentService(sessions), KpiSettings(), bench.TZ, lambda: bench.NOW
            )
            report = await kpi.report(bench.MONTH, Dimension.NONE)
            rates = report.rows[0].kpis
            return {
                "offered": rates["answer_rate"].denominator,
                "answer_rate": rates["answer_rate"].value or 0,
                "intake": rates["completion_rate"].denominator,
            }
        finally:
            await engine.dispose()

    got = asyncio.run(month())
    # June's share of a year of 3000 calls and 2000 tickets.
    assert 220 <= got["offered"] <= 270 and 0.85 <= got["answer_rate"] <= 0.95
    assert 150 <= got["intake"] <= 180

"""bench/caseloop.py at a toy size (SQLite only, a few repetitions), so the bench cannot rot:
the seeding, the service-vs-plain comparisons (which check that both return the same rows) and
the query plans all run."""

from __future__ import annotations

from pathlib import Path

from bench.caseloop import report, run_one


def test_the_caseloop_bench_seeds_and_measures_a_small_city(tmp_path: Path) -> None:
    run = run_one("SQLite", f"sqlite:///{tmp_path / 'bench.db'}", 2_000, 2_700, 3, 7)

    assert run.seeded.tickets == 2_000
    assert run.seeded.transitions > 2 * run.seeded.tickets
    assert run.seeded.offers > 0
    names = [figure.name.split(":")[0].split(" ")[0] for figure in run.figures]
    assert names == ["portal"] * 6 + ["sweep", "claim"]
    assert all(len(f.service) == len(f.plain) == 3 for f in run.figures)
    assert all(f.statements >= 1 for f in run.figures)
    text = report(run)
    assert "SEARCH tickets USING" in text  # the plans are printed
    assert "forced 0, reminded 0, overdue 0" not in text.split("second run")[0]

"""bench/surges.py at a toy size, so the bench cannot rot: the city is made, both passes and
their baselines are timed, and ordinary variation raises no alert."""

from __future__ import annotations

from bench.surges import city, report, run


def test_the_surge_bench_times_a_small_city() -> None:
    assert len(city(50, 10)) == 500
    figures = run(50, 40, 1)
    assert [f.name for f in figures] == [
        "the service's window",
        "every ticket given (a year by default)",
    ]
    assert figures[0].tickets < figures[1].tickets == 2_000
    assert all(f.detector_ms > 0 and f.baseline_ms > 0 and f.alerts == 0 for f in figures)
    assert "ratio" in report(figures)

"""bench/duplicates.py runs, so it cannot rot: it prints the suggester's precision, recall and
F1 beside the exact-phone baseline, and the suggester beats the baseline on the set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import duplicates as bench
from bench.duplicates_set import PAIRS


def test_bench_prints_figures_beside_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([]) == 0
    out = capsys.readouterr().out
    f1 = {
        label: float(value)
        for label, value in re.findall(
            r"^(suggester|baseline exact phone)\s.*F1 ([0-9.]+)", out, re.M
        )
    }
    assert set(f1) == {"suggester", "baseline exact phone"}, out
    assert f1["suggester"] > f1["baseline exact phone"]
    assert "F1 ratio" in out


def test_the_set_has_both_labels() -> None:
    labels = [p.duplicate for p in PAIRS]
    assert labels.count(True) >= 20 and labels.count(False) >= 20


def test_bench_times_the_service_on_a_small_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--tickets", "300", "--runs", "3", "--workdir", str(tmp_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "seeded 300 tickets" in out
    assert "suggestions, cold word cache" in out and "candidate queries alone" in out
    assert "p50 ratio" in out

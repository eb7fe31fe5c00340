"""bench/kb_search.py at a toy size (SQLite only), so the bench cannot rot: the generated
articles and queries, the service's search beside the LIKE baseline, and the report."""

from __future__ import annotations

from pathlib import Path

from bench.kb_search import generate, queries, report, run_one


def test_the_kb_bench_generates_varied_articles_and_measures_them(tmp_path: Path) -> None:
    articles = generate(300, 7)
    assert len({a.question for a in articles}) > 250  # varied, not one text repeated
    assert all(a.question_tokens and a.body_tokens for a in articles)
    assert len(queries(20, 7)) == 20

    run = run_one("SQLite", f"sqlite:///{tmp_path / 'kb.db'}", 300, 20, 7)
    search, tokens = run.figures
    assert len(search.ours) == len(search.plain) == len(tokens.ours) == 20
    assert search.found >= 10  # the citizen-style queries find articles
    text = report(run)
    assert "LIKE scan" in text and "ratio p50" in text

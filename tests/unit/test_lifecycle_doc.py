"""The README's lifecycle tables are the users' manual: they must say what the code does."""

from __future__ import annotations

import re

from casework.lifecycle import ALLOWED, LABELS_ZH, TicketState
from tests.conftest import REPO


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## The ticket lifecycle")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_lists_exactly_the_allowed_moves() -> None:
    documented: dict[TicketState, set[TicketState]] = {}
    moves = _section().split("| from | to |", 1)[1]
    for row in re.findall(r"^\| ([a-z, ]+) \| ([a-z ,()—]+?) \|$", moves, re.M):
        sources = [TicketState(s.strip()) for s in row[0].split(",")]
        targets = {TicketState(t) for t in re.findall(r"\b([a-z]+)\b(?![^(]*\))", row[1])}
        for source in sources:
            documented[source] = targets
    assert documented == {state: set(targets) for state, targets in ALLOWED.items()}


def test_readme_names_every_state_with_its_label() -> None:
    section = _section()
    for state, label in LABELS_ZH.items():
        assert f"| `{state.value}` | {label} |" in section

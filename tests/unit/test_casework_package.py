"""The casework package stays pure: a tested ``__all__`` and no imports of other domain packages."""

from __future__ import annotations

import subprocess
import sys

import casework


def test_all_names_resolve() -> None:
    assert sorted(casework.__all__) == sorted(set(casework.__all__))
    for name in casework.__all__:
        assert getattr(casework, name) is not None


def test_imports_only_core_and_libraries() -> None:
    forbidden = ["app", "ivr", "cti", "callbacks", "transcription", "hotline", "sqlalchemy"]
    code = (
        "import sys, casework; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

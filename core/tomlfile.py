"""Reading the project's TOML files (settings, number plan) with errors a person can act on."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def read_toml(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """Parse ``path``; raise ``error`` naming the file and how to create it or what is wrong."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist: run `hotline install` to create it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from exc


def validation_summary(exc: ValidationError) -> str:
    """'section.field: message; …' for every problem pydantic found."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()
    )

"""The HTTP edge's error bodies: a malformed request is always a 4xx that names the field.

FastAPI's own 422 echoes the offending input back; Python's ``json`` accepts ``NaN``,
``Infinity`` and ``1e400`` (→ inf), which the strict JSON encoder then refuses, turning a
client's mistake into a 500. Here the echoed input is made JSON-safe first.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text ("NaN", "Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        if _non_finite(error.get("input")):
            error = {**error, "msg": f"{error['msg']} (not a finite number)"}
        errors.append(json_safe(jsonable_encoder(error)))
    return JSONResponse({"detail": errors}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)

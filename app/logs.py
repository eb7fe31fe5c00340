"""Logging for the app process: one format, and no secret in any line.

The agent WebSocket carries the API token in its query string (browsers cannot set headers on
a WebSocket), and uvicorn logs every WebSocket path; the filter masks it in every record.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_SECRET_PARAM = re.compile(r"(token|secret|password)=[^&\s\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_PARAM.sub(r"\1=***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config with our format and the redaction filter on every handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactSecrets}}
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    for formatter in config["formatters"].values():
        formatter["fmt"] = fmt
        formatter.pop("use_colors", None)
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"][""] = {"handlers": ["default"], "level": level}
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        config["loggers"].setdefault(name, {})["level"] = level
    config["loggers"]["uvicorn.access"]["propagate"] = False
    # APScheduler logs every run of the callback dispatcher (twice a second) at INFO.
    config["loggers"]["apscheduler"] = {"level": "WARNING"}
    return config

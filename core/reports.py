"""Settings of the scheduled reports (``[reports]``): which of the 日报, 周报, 月报 and 季报 the
node's scheduler builds by itself. 专报 are made on demand only.

Read by ``app.reports`` when the runtime starts; pure data and validation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReportSettings(BaseModel):
    """The ``[reports]`` section: each scheduled report on (true) or off (false)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    daily: bool = True  # 日报 of yesterday, at 00:30
    weekly: bool = True  # 周报 of last week (Monday–Sunday), Mondays at 01:00
    monthly: bool = True  # 月报 of last month, on the 1st at 02:00
    quarterly: bool = True  # 季报 of last quarter, on 1 Jan/Apr/Jul/Oct at 03:00

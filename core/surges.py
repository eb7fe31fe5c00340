"""Settings of surge detection (突增预警, ``[surges]``): how often the node looks, how far back
the history goes, and the test's thresholds.

Read by ``app.surges`` at start-up and handed to ``casework.surge.detect``; pure data and
validation. The defaults are chosen so that the seeds' case (four 交通事故 at one crossing in a
day, against a quiet history) alerts and three do not: with a floor of 0.2 tickets a day,
P(X ≥ 4) ≈ 5.7e-5 < 1e-4 while P(X ≥ 3) ≈ 1.1e-3 (README, 突增预警).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SurgeSettings(BaseModel):
    """The ``[surges]`` section."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    scan_seconds: float = Field(default=60.0, ge=5, le=3600)  # the scheduler's pass
    history_days: int = Field(default=28, ge=7, le=365)  # the trailing baseline
    # No alert below this many tickets in a window, whatever the test says.
    min_count: int = Field(default=3, ge=2, le=1000)
    # The Poisson upper tail P(X ≥ count | baseline) must be below this.
    p_value: float = Field(default=1e-4, gt=0, lt=0.5)
    # The least expected rate per cell (tickets a day; an hour of the day), so that a quiet
    # history (zero tickets) does not turn one or two tickets into an alert.
    floor_per_day: float = Field(default=0.2, gt=0, le=100)
    floor_per_hour: float = Field(default=0.05, gt=0, le=100)
    # Robust z ((count − median) / (1.4826·MAD), the scale at least 1) over the history's
    # windows must also reach this: guards busy, over-dispersed cells. None: Poisson only.
    robust_z: float | None = Field(default=3.0, ge=0, le=100)

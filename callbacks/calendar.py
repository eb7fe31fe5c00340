"""When a campaign may dial: dialling days, calling windows and the next allowed moment.

Call flow: the app asks ``next_dial_time`` when it plans an attempt (reply time plus the
campaign's delay, or the end of the last attempt plus the retry spacing) and stores the result;
the dialer asks ``in_window`` again just before it originates, in case the plan went stale
(a restart after the window closed, a changed holiday list).

Windows are wall-clock times in the node's zone, so "08:30" means 08:30 on the citizen's clock
on every day of the year, whatever the UTC offset that day. In zones with daylight saving time
a window that starts inside the skipped spring hour opens when the clock jumps (03:00 for a
02:30 start in Europe/Berlin), and in the repeated autumn hour the window follows the clock
both times round. Every function takes and returns timezone-aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from core.campaigns import CampaignConfig

# How far ahead next_dial_time looks before it gives up (a year plus slack for long holidays).
SEARCH_DAYS = 400


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


def is_dialling_day(cfg: CampaignConfig, day: date) -> bool:
    """May windows that start on ``day`` dial? Holidays never, make-up workdays always."""
    if day in cfg.holidays:
        return False
    if day in cfg.workdays:
        return True
    return day.isoweekday() in cfg.days


def in_window(cfg: CampaignConfig, moment: datetime, tz: tzinfo) -> bool:
    """Is ``moment`` inside one of the campaign's windows on a dialling day (in zone ``tz``)?"""
    local = _aware(moment, "moment").astimezone(tz)
    day, clock = local.date(), local.time().replace(fold=0)
    for window in cfg.windows:
        if window.crosses_midnight:
            # The part after midnight belongs to the day before.
            if clock >= window.start and is_dialling_day(cfg, day):
                return True
            if clock < window.end and is_dialling_day(cfg, day - timedelta(days=1)):
                return True
        elif window.start <= clock < window.end and is_dialling_day(cfg, day):
            return True
    return False


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


def _openings(wall: datetime, tz: tzinfo) -> list[datetime]:
    """The UTC instants at which the local clock reaches ``wall`` (0, 1 or 2 of them)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _wall(first, tz) == wall:
        # One instant, or two when the autumn hour repeats.
        return sorted({first, second})
    # ``wall`` falls in the skipped spring hour: for such times fold=1 lands before the jump
    # and fold=0 after it. The window opens at the jump, the first instant whose clock reads
    # ``wall`` or later; find it by bisection (whole microseconds, ~32 steps).
    low, high = min(first, second), max(first, second)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= wall:
            high = middle
        else:
            low = middle
    return [high]


def next_dial_time(cfg: CampaignConfig, after: datetime, tz: tzinfo) -> datetime:
    """The earliest moment at or after ``after`` inside a window of a dialling day, in UTC.

    Raises ValueError when there is none within ``SEARCH_DAYS`` days (e.g. every day a
    holiday), so a misconfigured campaign fails loudly instead of looping.
    """
    after = _aware(after, "after").astimezone(UTC)
    if in_window(cfg, after, tz):
        return after
    first_day = _wall(after, tz).date() - timedelta(days=1)
    best: datetime | None = None
    for offset in range(SEARCH_DAYS + 2):
        day = first_day + timedelta(days=offset)
        # Openings on a later day come later, save a DST shift of an hour or two: one more day
        # after the best one covers that.
        if best is not None and (day - _wall(best, tz).date()).days > 1:
            return best
        if not is_dialling_day(cfg, day):
            continue
        for window in cfg.windows:
            for opening in _openings(datetime.combine(day, window.start), tz):
                later = opening >= after and (best is None or opening < best)
                # Checked again: a window can lie wholly inside a skipped DST hour.
                if later and in_window(cfg, opening, tz):
                    best = opening
    if best is not None:
        return best
    raise ValueError(
        f"campaign {cfg.name!r} has no calling time within {SEARCH_DAYS} days after "
        f"{after.astimezone(tz).isoformat()}: check its days, holidays and workdays"
    )

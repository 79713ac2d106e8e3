"""Pace and forecast: the share of a year's target due by a moment, and the year-end forecast."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from alliance.core.timeutil import LOCAL_TZ

# Before a week of the year has passed the pace says nothing: the forecast is then the actual.
MIN_FORECAST_SHARE = 7 / 365


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


def year_share(year: int, now: datetime, curve: Sequence[int] | None = None) -> float:
    """The share (0..1) of the year's target due by `now`: the elapsed part of the year (pro-rata of
    time), or with a monthly curve the shares of the months gone plus the elapsed part of this one."""
    start, end = _year_bounds(year)
    local = now.astimezone(LOCAL_TZ)
    if local <= start:
        return 0.0
    if local >= end:
        return 1.0
    if not curve or sum(curve) == 0:
        return (local - start) / (end - start)
    month_start = datetime(year, local.month, 1, tzinfo=LOCAL_TZ)
    month_end = datetime(year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    done = sum(curve[: local.month - 1])
    this_month = curve[local.month - 1] * ((local - month_start) / (month_end - month_start))
    return (done + this_month) / sum(curve)


def month_end_share(year: int, month: int, curve: Sequence[int] | None = None) -> float:
    """The share due by the end of `month` (1..12)."""
    if month >= 12:
        return 1.0
    return year_share(year, datetime(year, month + 1, 1, tzinfo=LOCAL_TZ), curve)


def expected_by(target: int | None, share: float) -> int | None:
    return None if target is None else round(target * share)


def forecast_year_end(actual: int, share: float, ceiling: int | None = None) -> int:
    """Year-end forecast: the actual extended at the pace so far along the same curve, i.e.
    actual / share-due-by-today (pro-rata: the daily run-rate times the days of the year). After the
    year it is the actual; in the first week, too early to tell, also the actual. Distinct counts
    (projects, organisations, volunteers) are capped by how many exist (`ceiling`)."""
    if share >= 1.0 or share < MIN_FORECAST_SHARE:
        return actual
    projected = math.floor(actual / share + 0.5)
    if ceiling is not None:
        projected = min(projected, max(ceiling, actual))
    return max(projected, actual)

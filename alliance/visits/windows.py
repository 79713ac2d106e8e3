"""Visit time windows: a window in local wall-clock time, its checks, and volunteers' weekly availability."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ

MAX_WINDOW = timedelta(hours=12)
MIN_WINDOW = timedelta(minutes=15)
SLOT_STEP = timedelta(minutes=15)
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def as_utc(moment: datetime) -> datetime:
    # SQLite stores datetimes as text, so a filter compares strings: every moment that reaches a
    # query or a row is first put in UTC, whatever zone the caller gave it in.
    return moment.astimezone(UTC)


# --- time windows and weekly availability ----------------------------------------------------------


def local_window(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """A window given in Asia/Shanghai wall-clock time, as aware datetimes (stored in UTC)."""
    return datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ)


def _checked_window(window_start: datetime, window_end: datetime, now: datetime) -> None:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise InvalidInput({"window": _("Give the time with its time zone.")})
    if window_end - window_start < MIN_WINDOW:
        raise InvalidInput({"window": _("The window must end at least 15 minutes after it starts.")})
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput({"window": _("A visit window can be at most 12 hours long.")})
    if window_start <= now:
        raise InvalidInput({"window": _("The window must start in the future.")})


def _clock(text: str) -> time | None:
    hours, _sep, minutes = str(text).partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    if (int(hours), int(minutes)) == (24, 0):
        return time.max
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def availability_on(weekly: dict | None, day: date) -> list[tuple[datetime, datetime]]:
    """The volunteer's available intervals on one local date, as aware datetimes. Malformed entries
    are skipped (the availability is typed in by partner staff)."""
    found = []
    for pair in (weekly or {}).get(DAY_KEYS[day.weekday()], []) or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        start, end = _clock(pair[0]), _clock(pair[1])
        if start is None or end is None or end <= start:
            continue
        found.append((datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ)))
    return sorted(found)


def is_available(weekly: dict | None, window_start: datetime, window_end: datetime) -> bool:
    """Whether the window lies inside one of the volunteer's weekly intervals (local time)."""
    local_start = window_start.astimezone(LOCAL_TZ)
    return any(
        start <= window_start and window_end <= end
        for start, end in availability_on(weekly, local_start.date())
    )


def _round_up(moment: datetime, step: timedelta = SLOT_STEP) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    midnight = datetime.combine(local.date(), time(0), LOCAL_TZ)
    steps = -(-(local - midnight) // step)
    return midnight + steps * step

"""Visit time windows: a window in local wall-clock time, its checks, and volunteers' weekly availability."""

from __future__ import annotations

import re
from collections.abc import Iterable
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


def is_off(off: Iterable[tuple[date, date]], day: date) -> bool:
    """Whether the day falls in one of the volunteer's exceptions (holiday, sick day, days off)."""
    return any(first <= day <= last for first, last in off)


def availability_on(
    weekly: dict | None, day: date, off: Iterable[tuple[date, date]] = ()
) -> list[tuple[datetime, datetime]]:
    """The volunteer's available intervals on one local date, as aware datetimes: the weekly pattern,
    nothing on a day off. Malformed entries are skipped (the pattern is checked when it is saved)."""
    if is_off(off, day):
        return []
    found = []
    for pair in (weekly or {}).get(DAY_KEYS[day.weekday()], []) or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        start, end = _clock(pair[0]), _clock(pair[1])
        if start is None or end is None or end <= start:
            continue
        found.append((datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ)))
    return sorted(found)


def is_available(
    weekly: dict | None, window_start: datetime, window_end: datetime, off: Iterable[tuple[date, date]] = ()
) -> bool:
    """Whether the window lies inside one of the volunteer's weekly intervals (local time) on a day
    that is not one of their days off."""
    local_start = window_start.astimezone(LOCAL_TZ)
    return any(
        start <= window_start and window_end <= end
        for start, end in availability_on(weekly, local_start.date(), off)
    )


# --- the weekly pattern as typed: "mon 09:00-12:00, 14:00-17:00; wed 14:00-18:00" ----------------

_DAY_NAMES = {
    **{key: key for key in DAY_KEYS},
    **dict(
        zip(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            DAY_KEYS,
            strict=True,
        )
    ),
    **dict(zip(("周一", "周二", "周三", "周四", "周五", "周六", "周日"), DAY_KEYS, strict=True)),
    "周天": "sun",
}


def parse_weekly(text: str) -> dict[str, list[list[str]]]:
    """The weekly pattern from its text form, or InvalidInput naming the part that is wrong. Days are
    separated by ";" or new lines; a day's times by ","; e.g. "mon 09:00-12:00; wed 14:00-18:00"."""
    weekly: dict[str, list[list[str]]] = {}
    for part in re.split(r"[;；\n]+", text or ""):
        part = part.strip()
        if not part:
            continue
        name, _sep, times = part.partition(" ")
        day = _DAY_NAMES.get(name.strip().lower())
        if day is None or not times.strip():
            raise InvalidInput(
                {
                    "availability": _(
                        "Cannot read “{part}”: write a day then its times, e.g. mon 09:00-12:00."
                    ).format(part=part)
                }
            )
        for span in re.split(r"[,，]", times):
            span = span.strip()
            start_text, _dash, end_text = span.replace("–", "-").partition("-")
            start, end = _clock(start_text.strip()), _clock(end_text.strip())
            if start is None or end is None or end <= start:
                raise InvalidInput(
                    {
                        "availability": _(
                            "Cannot read the time “{span}” on {day}: write it as 09:00-12:00."
                        ).format(span=span, day=name)
                    }
                )
            weekly.setdefault(day, []).append(
                [f"{start:%H:%M}", "24:00" if end == time.max else f"{end:%H:%M}"]
            )
    return {day: sorted(weekly[day]) for day in DAY_KEYS if day in weekly}


def format_weekly(weekly: dict | None) -> str:
    """The weekly pattern as text the form shows and parse_weekly reads back."""
    parts = []
    for day in DAY_KEYS:
        spans = [
            f"{pair[0]}-{pair[1]}"
            for pair in (weekly or {}).get(day, []) or []
            if isinstance(pair, (list, tuple)) and len(pair) == 2
        ]
        if spans:
            parts.append(f"{day} {', '.join(spans)}")
    return "; ".join(parts)


def _round_up(moment: datetime, step: timedelta = SLOT_STEP) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    midnight = datetime.combine(local.date(), time(0), LOCAL_TZ)
    steps = -(-(local - midnight) // step)
    return midnight + steps * step

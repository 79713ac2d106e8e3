"""The working calendar of the response promises (issue 18): public holidays, and adjusted working
days (a weekend day that is worked, as China moves weekends around its holidays). An admin keeps it on
/admin/holidays, an operator with `alliance holidays`; alliance/targets/promises.py counts with it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, require
from alliance.core.audit import record
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.targets.models import CalendarDay

MAX_NAME = 100


class DayKind(StrEnum):
    HOLIDAY = "holiday"
    WORKING_DAY = "working_day"


def day_kind_label(kind: str) -> str:
    return _("Public holiday") if kind == DayKind.HOLIDAY else _("Adjusted working day")


def shift_of(day: date, kind: str) -> int:
    """-1 for a holiday on a weekday, +1 for a worked Saturday or Sunday, else 0."""
    weekend = day.weekday() >= 5
    if kind == DayKind.HOLIDAY:
        return 0 if weekend else -1
    return 1 if weekend else 0


@dataclass(frozen=True)
class WorkingCalendar:
    """The calendar's shifts in day order, to count working days in Python as the SQL does."""

    days: tuple[date, ...] = ()
    running: tuple[int, ...] = ()  # the sum of the shifts up to and including each day

    def shift_until(self, day: date) -> int:
        index = bisect_right(self.days, day)
        return self.running[index - 1] if index else 0


async def working_calendar() -> WorkingCalendar:
    rows = await CalendarDay.exclude(shift=0).order_by("day").values_list("day", "shift")
    days, running, total = [], [], 0
    for day, shift in rows:
        total += int(shift)
        days.append(day if isinstance(day, date) else date.fromisoformat(str(day)))
        running.append(total)
    return WorkingCalendar(tuple(days), tuple(running))


async def calendar_days(year: int | None = None) -> list[CalendarDay]:
    query = CalendarDay.all()
    if year is not None:
        query = query.filter(day__gte=date(year, 1, 1), day__lte=date(year, 12, 31))
    return await query.order_by("day")


def _checked(day_text: str, kind: str, name: str) -> tuple[date, str, str]:
    errors: dict[str, str] = {}
    day: date | None = None
    try:
        day = date.fromisoformat(str(day_text).strip())
        if not 2000 <= day.year <= 2100:
            errors["day"] = _("Day: choose a date between 2000 and 2100.")
    except ValueError:
        errors["day"] = _("Day: enter a date as YYYY-MM-DD.")
    if kind not in {value.value for value in DayKind}:
        errors["kind"] = _("Kind: choose a public holiday or an adjusted working day.")
    name = str(name or "").strip()
    if not name:
        errors["name"] = _("Name: say which holiday it is.")
    elif len(name) > MAX_NAME:
        errors["name"] = _("Name: at most {count} characters.").format(count=MAX_NAME)
    if day is not None and "day" not in errors and kind == DayKind.WORKING_DAY and day.weekday() < 5:
        errors["kind"] = _("Kind: {day} is a weekday and already a working day.").format(day=day.isoformat())
    if errors:
        raise InvalidInput(errors)
    assert day is not None
    return day, kind, name


async def save_calendar_day(
    principal: Principal,
    day_text: str,
    kind: str,
    name: str,
    day_id: int | None = None,
    address: str = "",
) -> CalendarDay:
    """Add a day (day_id None) or change one; one row per date. Audited."""
    require(principal, Action.EDIT_HOLIDAYS)
    day, kind, name = _checked(day_text, kind, name)
    async with in_transaction():
        existing = await CalendarDay.get_or_none(day=day)
        if day_id is None:
            if existing is not None:
                raise InvalidInput(
                    {"day": _("Day: {day} is already in the calendar.").format(day=day.isoformat())}
                )
            row = await CalendarDay.create(
                day=day, kind=kind, name=name, shift=shift_of(day, kind), updated_by_id=principal.user_id
            )
            before = None
        else:
            row = await CalendarDay.get_or_none(id=day_id)
            if row is None:
                raise NotFound("calendar_day", day_id)
            if existing is not None and existing.id != row.id:
                raise InvalidInput(
                    {"day": _("Day: {day} is already in the calendar.").format(day=day.isoformat())}
                )
            before = {"day": str(row.day), "kind": row.kind, "name": row.name}
            row.day, row.kind, row.name, row.shift = day, kind, name, shift_of(day, kind)
            row.updated_by_id = principal.user_id
            await row.save()
        await record(
            principal,
            "calendar_day.saved",
            "calendar_day",
            row.id,
            {"before": before, "after": {"day": day.isoformat(), "kind": kind, "name": name}},
            address,
        )
    return row


async def remove_calendar_day(principal: Principal, day_id: int, address: str = "") -> CalendarDay:
    require(principal, Action.EDIT_HOLIDAYS)
    async with in_transaction():
        row = await CalendarDay.get_or_none(id=day_id)
        if row is None:
            raise NotFound("calendar_day", day_id)
        await row.delete()
        await record(
            principal,
            "calendar_day.removed",
            "calendar_day",
            day_id,
            {"day": str(row.day), "kind": row.kind, "name": row.name},
            address,
        )
    return row


async def day_by_date(day_text: str) -> CalendarDay | None:
    try:
        return await CalendarDay.get_or_none(day=date.fromisoformat(day_text))
    except ValueError:
        return None


# China's 2026 public holidays and adjusted working days (State Council notice), for the demo city.
CHINA_2026: tuple[tuple[str, str, str], ...] = (
    ("2026-01-01", "holiday", "元旦 New Year's Day"),
    ("2026-01-02", "holiday", "元旦 New Year's Day"),
    ("2026-01-03", "holiday", "元旦 New Year's Day"),
    ("2026-01-04", "working_day", "元旦调休 New Year's adjusted working day"),
    ("2026-02-14", "working_day", "春节调休 Spring Festival adjusted working day"),
    *((f"2026-02-{day:02d}", "holiday", "春节 Spring Festival") for day in range(15, 24)),
    ("2026-02-28", "working_day", "春节调休 Spring Festival adjusted working day"),
    ("2026-04-04", "holiday", "清明节 Qingming Festival"),
    ("2026-04-05", "holiday", "清明节 Qingming Festival"),
    ("2026-04-06", "holiday", "清明节 Qingming Festival"),
    *((f"2026-05-{day:02d}", "holiday", "劳动节 Labour Day") for day in range(1, 6)),
    ("2026-05-09", "working_day", "劳动节调休 Labour Day adjusted working day"),
    ("2026-06-19", "holiday", "端午节 Dragon Boat Festival"),
    ("2026-06-20", "holiday", "端午节 Dragon Boat Festival"),
    ("2026-06-21", "holiday", "端午节 Dragon Boat Festival"),
    ("2026-09-20", "working_day", "国庆节调休 National Day adjusted working day"),
    ("2026-09-25", "holiday", "中秋节 Mid-Autumn Festival"),
    ("2026-09-26", "holiday", "中秋节 Mid-Autumn Festival"),
    ("2026-09-27", "holiday", "中秋节 Mid-Autumn Festival"),
    *((f"2026-10-{day:02d}", "holiday", "国庆节 National Day") for day in range(1, 8)),
    ("2026-10-10", "working_day", "国庆节调休 National Day adjusted working day"),
)

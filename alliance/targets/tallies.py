"""Running totals of what was delivered: person-times and deliveries per month, community, project and
partner (DeliveryTally), and who took part each year (DeliveryParticipant: volunteers, partners,
projects). They are written in the SAME transaction as the delivery they count (a check-out, a
correction, an attended session), so the cockpit reads sums of a few thousand rows instead of
counting millions of records, and is never behind. `rebuild_tallies` recounts everything from the
records; tests check that the running totals equal that recount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core.models import Region
from alliance.core.timeutil import LOCAL_TZ
from alliance.targets.models import DeliveryParticipant, DeliveryTally
from alliance.visits.models import ServiceRecord


def _connection() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


def _holes(connection: BaseDBAsyncClient, count: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":
        return [f"${position}" for position in range(1, count + 1)]
    return ["?"] * count


@dataclass(frozen=True)
class Delivery:
    """One completed delivery to count: a home visit's record, or one attended event session."""

    completed_at: datetime
    region_code: str  # the household's community
    region_path: str
    partner_id: int | None  # None: a community worker's regular visit (no partner delivered it)
    project_id: int | None
    person_times: int
    volunteer_ids: tuple[int, ...] = ()


def _month_of(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(LOCAL_TZ)
    return local.year, local.month


def tally_key(year: int, month: int, region_code: str, project_id: int | None, partner_id: int | None) -> str:
    return f"{year}-{month:02d}:{region_code}:{project_id or 0}:{partner_id or 0}"


async def _add(connection: BaseDBAsyncClient, delivery: Delivery, person_times: int, deliveries: int) -> None:
    year, month = _month_of(delivery.completed_at)
    holes = _holes(connection, 9)
    await connection.execute_query(
        'INSERT INTO "delivery_tally" ("key", "year", "month", "region_id", "region_path", "project_id", '
        f'"partner_id", "person_times", "deliveries") VALUES ({", ".join(holes)}) '
        'ON CONFLICT ("key") DO UPDATE SET "person_times" = "delivery_tally"."person_times" + '
        'excluded."person_times", "deliveries" = "delivery_tally"."deliveries" + excluded."deliveries"',
        [
            tally_key(year, month, delivery.region_code, delivery.project_id, delivery.partner_id),
            year,
            month,
            delivery.region_code,
            delivery.region_path,
            delivery.project_id,
            delivery.partner_id,
            person_times,
            deliveries,
        ],
    )


async def _participants(connection: BaseDBAsyncClient, delivery: Delivery) -> None:
    year, _month = _month_of(delivery.completed_at)
    taking_part = [("partner", delivery.partner_id)] if delivery.partner_id else []
    taking_part += [("volunteer", volunteer_id) for volunteer_id in delivery.volunteer_ids]
    if delivery.project_id:
        taking_part.append(("project", delivery.project_id))
    holes = _holes(connection, 6)
    for kind, ref_id in taking_part:
        await connection.execute_query(
            'INSERT INTO "delivery_participant" ("key", "year", "kind", "ref_id", "region_id", "region_path") '
            f'VALUES ({", ".join(holes)}) ON CONFLICT ("key") DO NOTHING',
            [
                f"{year}:{kind}:{ref_id}:{delivery.region_code}",
                year,
                kind,
                ref_id,
                delivery.region_code,
                delivery.region_path,
            ],
        )


async def count_delivery(delivery: Delivery) -> None:
    """Count a completed delivery. Call inside the transaction that completes it."""
    connection = _connection()
    await _add(connection, delivery, delivery.person_times, 1)
    await _participants(connection, delivery)


async def adjust_person_times(delivery: Delivery, delta: int) -> None:
    """A coordinator corrected the persons served of a delivery counted before."""
    if delta:
        await _add(_connection(), delivery, delta, 0)


# The project every community worker's regular visit counts for (issue 18): one per year, made on the
# first check-out of the year if the administrator has not made it already.
REGULAR_VISIT_PROJECT = "REGULAR_VISIT"


async def regular_visit_project_id(year: int) -> int:
    """The year's REGULAR_VISIT project, created when missing (safe when two check-outs race)."""
    connection = _connection()
    holes = _holes(connection, 8)
    await connection.execute_query(
        'INSERT INTO "project" ("year", "code", "name", "name_en", "target_person_times", "needs", '
        f'"active", "updated_at") VALUES ({", ".join(holes)}) ON CONFLICT ("year", "code") DO NOTHING',
        [year, REGULAR_VISIT_PROJECT, "常态化走访", "Regular visits", 0, "", True, datetime.now(LOCAL_TZ)],
    )
    from alliance.partners.models import Project

    return (await Project.get(year=year, code=REGULAR_VISIT_PROJECT)).id


async def count_regular_visit(checked_out_at: datetime, region_code: str, region_path: str) -> None:
    """A community worker's regular visit is one person-time of the REGULAR_VISIT project, with no
    partner. Call inside the transaction of the check-out (which ends a visit once only)."""
    year, _month = _month_of(checked_out_at)
    await count_delivery(
        Delivery(
            completed_at=checked_out_at,
            region_code=region_code,
            region_path=region_path,
            partner_id=None,
            project_id=await regular_visit_project_id(year),
            person_times=1,
        )
    )


async def delivery_of_record(record: ServiceRecord) -> Delivery:
    """The tally facts of a home visit's service record (household's community, partner, project)."""
    await record.fetch_related(
        "visit__request__household__region", "visit__request__offering", "visit__bookings"
    )
    visit = record.visit
    request = visit.request
    region = request.household.region
    return Delivery(
        completed_at=record.completed_at,
        region_code=region.code,
        region_path=region.path,
        partner_id=visit.partner_id,  # type: ignore[attr-defined]
        project_id=request.offering.project_id if request.offering else None,  # type: ignore[attr-defined]
        person_times=record.persons_served,
        volunteer_ids=tuple(sorted(booking.volunteer_id for booking in visit.bookings if booking.active)),  # type: ignore[attr-defined]
    )


# --- recount from the records ----------------------------------------------------------------------


@dataclass
class Recount:
    tallies: dict[str, tuple[int, int, str, str, int | None, int, int, int]]
    participants: dict[str, tuple[int, str, int, str, str]]


async def recount(chunk: int = 20_000) -> Recount:
    """Everything delivered, counted from the service records and the attended event sessions."""
    paths = dict(await Region.all().values_list("code", "path"))
    tallies: dict[str, list] = {}
    participants: dict[str, tuple[int, str, int, str, str]] = {}
    last_id = 0
    while True:
        rows = (
            await ServiceRecord.filter(id__gt=last_id)
            .order_by("id")
            .limit(chunk)
            .values_list(
                "id",
                "completed_at",
                "persons_served",
                "visit_id",
                "visit__partner_id",
                "visit__request__household__region_id",
                "visit__request__offering__project_id",
            )
        )
        if not rows:
            break
        last_id = rows[-1][0]
        visit_ids = [row[3] for row in rows]
        volunteers = defaultdict(list)
        for visit_id, volunteer_id in await _bookings(visit_ids):
            volunteers[visit_id].append(volunteer_id)
        for _id, completed_at, persons, visit_id, partner_id, region_code, project_id in rows:
            year, month = _month_of(completed_at)
            key = tally_key(year, month, region_code, project_id, partner_id)
            entry = tallies.setdefault(
                key, [year, month, region_code, paths.get(region_code, ""), project_id, partner_id, 0, 0]
            )
            entry[6] += persons
            entry[7] += 1
            taking_part = [("partner", partner_id)] + [("volunteer", v) for v in volunteers[visit_id]]
            if project_id:
                taking_part.append(("project", project_id))
            for kind, ref_id in taking_part:
                participants[f"{year}:{kind}:{ref_id}:{region_code}"] = (
                    year,
                    kind,
                    ref_id,
                    region_code,
                    paths.get(region_code, ""),
                )
    await _recount_attendance(tallies, participants, paths, chunk)
    await _recount_regular_visits(tallies, participants, paths, chunk)
    return Recount({key: tuple(value) for key, value in tallies.items()}, participants)  # type: ignore[misc]


async def _recount_attendance(
    tallies: dict[str, list], participants: dict[str, tuple[int, str, int, str, str]], paths: dict, chunk: int
) -> None:
    """Each attended event session: one person-time (and one delivery) for the event's partner and
    project, in the household's community, in the month of the session (alliance/events/attendance.py)."""
    from alliance.events.models import Attendance

    last_id = 0
    while True:
        rows = (
            await Attendance.filter(id__gt=last_id)
            .order_by("id")
            .limit(chunk)
            .values_list(
                "id",
                "session__starts_at",
                "session__event__partner_id",
                "session__event__project_id",
                "registration__household__region_id",
            )
        )
        if not rows:
            break
        last_id = rows[-1][0]
        for _id, starts_at, partner_id, project_id, region_code in rows:
            year, month = _month_of(starts_at)
            key = tally_key(year, month, region_code, project_id, partner_id)
            entry = tallies.setdefault(
                key, [year, month, region_code, paths.get(region_code, ""), project_id, partner_id, 0, 0]
            )
            entry[6] += 1
            entry[7] += 1
            taking_part = [("partner", partner_id)] + ([("project", project_id)] if project_id else [])
            for kind, ref_id in taking_part:
                participants[f"{year}:{kind}:{ref_id}:{region_code}"] = (
                    year,
                    kind,
                    ref_id,
                    region_code,
                    paths.get(region_code, ""),
                )


async def _recount_regular_visits(
    tallies: dict[str, list], participants: dict[str, tuple[int, str, int, str, str]], paths: dict, chunk: int
) -> None:
    """Each checked-out regular visit: one person-time of the year's REGULAR_VISIT project, no partner."""
    from alliance.partners.models import Project
    from alliance.visits.models import RegularVisit

    projects = dict(await Project.filter(code=REGULAR_VISIT_PROJECT).values_list("year", "id"))
    last_id = 0
    while True:
        rows = (
            await RegularVisit.filter(id__gt=last_id, checked_out_at__isnull=False)
            .order_by("id")
            .limit(chunk)
            .values_list("id", "checked_out_at", "household__region_id")
        )
        if not rows:
            break
        last_id = rows[-1][0]
        for _id, checked_out_at, region_code in rows:
            year, month = _month_of(checked_out_at)
            project_id = projects.get(year)
            key = tally_key(year, month, region_code, project_id, None)
            entry = tallies.setdefault(
                key, [year, month, region_code, paths.get(region_code, ""), project_id, None, 0, 0]
            )
            entry[6] += 1
            entry[7] += 1
            if project_id:
                participants[f"{year}:project:{project_id}:{region_code}"] = (
                    year,
                    "project",
                    project_id,
                    region_code,
                    paths.get(region_code, ""),
                )


async def _bookings(visit_ids: Iterable[int]) -> list[tuple[int, int]]:
    from alliance.visits.models import VolunteerBooking

    ids = list(visit_ids)
    found: list[tuple[int, int]] = []
    for start in range(0, len(ids), 5000):
        found += await VolunteerBooking.filter(
            visit_id__in=ids[start : start + 5000], active=True
        ).values_list("visit_id", "volunteer_id")
    return found


async def rebuild_tallies() -> Recount:
    """Replace the running totals by a recount (after a bulk load such as the demo city)."""
    counted = await recount()
    await DeliveryTally.all().delete()
    await DeliveryParticipant.all().delete()
    await DeliveryTally.bulk_create(
        [
            DeliveryTally(
                key=key,
                year=year,
                month=month,
                region_id=region_code,
                region_path=path,
                project_id=project_id,
                partner_id=partner_id,
                person_times=person_times,
                deliveries=deliveries,
            )
            for key, (year, month, region_code, path, project_id, partner_id, person_times, deliveries) in (
                counted.tallies.items()
            )
        ],
        batch_size=2000,
    )
    await DeliveryParticipant.bulk_create(
        [
            DeliveryParticipant(
                key=key, year=year, kind=kind, ref_id=ref_id, region_id=region_code, region_path=path
            )
            for key, (year, kind, ref_id, region_code, path) in counted.participants.items()
        ],
        batch_size=2000,
    )
    return counted

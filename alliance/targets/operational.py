"""The cockpit's operational figures: open requests by age, claims waiting, visits missed."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Min

from alliance.core.codes import RequestStatus, VisitStatus
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import aware, utc_now
from alliance.households.models import Flag, Household
from alliance.matching.models import Match, ServiceRequest
from alliance.targets.pace import _year_bounds
from alliance.targets.progress import _connection
from alliance.targets.scopes import Scope
from alliance.visits.models import ServiceRecord, Visit

# Open requests by age, in days: [0, 7), [7, 30), [30, 90), [90, ...).
AGE_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 7), (7, 30), (30, 90), (90, None))


@dataclass(frozen=True)
class Operational:
    open_by_age: list[tuple[str, int]]  # (bucket label, open requests)
    open_total: int
    without_candidate: int
    median_days_to_first_service: float | None
    households_served: int
    claims_waiting: int
    visits_missed: int

    def as_json(self) -> dict[str, Any]:
        # The buckets as counts in AGE_BUCKETS order: their labels are the viewer's language.
        return {
            "open_by_age": [count for _label, count in self.open_by_age],
            "open_total": self.open_total,
            "without_candidate": self.without_candidate,
            "median_days_to_first_service": self.median_days_to_first_service,
            "households_served": self.households_served,
            "claims_waiting": self.claims_waiting,
            "visits_missed": self.visits_missed,
        }

    @classmethod
    def from_json(cls, figures: dict[str, Any]) -> Operational:
        return cls(
            open_by_age=[
                (age_bucket_label(low, high), int(count))
                for (low, high), count in zip(AGE_BUCKETS, figures["open_by_age"], strict=True)
            ],
            open_total=int(figures["open_total"]),
            without_candidate=int(figures["without_candidate"]),
            median_days_to_first_service=figures["median_days_to_first_service"],
            households_served=int(figures["households_served"]),
            claims_waiting=int(figures["claims_waiting"]),
            visits_missed=int(figures["visits_missed"]),
        )


def age_bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return _("{low} days or more").format(low=low)
    return _("{low}–{high} days").format(low=low, high=high - 1)


def _households_in(scope: Scope) -> Any:
    # Subqueries rather than joins: the scope is a handful of region codes, matched by index.
    regions = Region.filter(path__startswith=scope.region_path).values("code")
    return Household.filter(region_id__in=Subquery(regions)).values("id")


def _requests_in(scope: Scope) -> Any:
    if not scope.region_path:
        return ServiceRequest.all()
    return ServiceRequest.filter(household_id__in=Subquery(_households_in(scope)))


async def operational_figures(scope: Scope, year: int, now: datetime | None = None) -> Operational:
    now = now or utc_now()
    created = await _requests_in(scope).filter(status=RequestStatus.OPEN).values_list("created_at", flat=True)
    ages = [(now - aware(moment)).total_seconds() / 86400 for moment in created]
    buckets = [
        (age_bucket_label(low, high), sum(1 for age in ages if age >= low and (high is None or age < high)))
        for low, high in AGE_BUCKETS
    ]
    without_candidate = (
        await _requests_in(scope)
        .filter(status=RequestStatus.OPEN, matched_at__isnull=False)
        .exclude(id__in=Subquery(Match.all().values("request_id")))
        .count()
    )
    claims_waiting = await _requests_in(scope).filter(status=RequestStatus.CLAIMED).count()
    start, end = _year_bounds(year)
    missed = Visit.filter(status=VisitStatus.MISSED, window_start__gte=start, window_start__lt=end)
    if scope.region_path:
        missed = missed.filter(request_id__in=Subquery(_requests_in(scope).values("id")))
    median, served = await _median_days_to_first_service(scope, year)
    return Operational(
        open_by_age=buckets,
        open_total=len(ages),
        without_candidate=without_candidate,
        median_days_to_first_service=median,
        households_served=served,
        claims_waiting=claims_waiting,
        visits_missed=await missed.count(),
    )


_MEDIAN_SQL = """
WITH served AS (
    SELECT sr.household_id, MIN(rec.completed_at) AS first_done
    FROM service_record rec JOIN visit v ON v.id = rec.visit_id JOIN service_request sr ON sr.id = v.request_id
    WHERE sr.household_id IN (
        SELECT id FROM household WHERE region_id IN (SELECT code FROM region WHERE path LIKE $1))
    GROUP BY sr.household_id
), flagged AS (
    SELECT household_id, MIN(detected_at) AS first_flag FROM flag
    WHERE household_id IN (SELECT household_id FROM served) GROUP BY household_id
)
SELECT percentile_cont(0.5) WITHIN GROUP (
           ORDER BY GREATEST(0, EXTRACT(EPOCH FROM (s.first_done - f.first_flag)) / 86400.0)) AS median,
       COUNT(*) AS households
FROM served s JOIN flagged f ON f.household_id = s.household_id
WHERE s.first_done >= $2 AND s.first_done < $3
"""


async def _median_days_to_first_service(scope: Scope, year: int) -> tuple[float | None, int]:
    """Median days from a household's first flag to its first completed service, over the households
    of the scope first served in `year` (PostgreSQL computes it in one statement)."""
    start, end = _year_bounds(year)
    connection = _connection()
    if connection.capabilities.dialect == "postgres":
        row = (await connection.execute_query_dict(_MEDIAN_SQL, [scope.region_path + "%", start, end]))[0]
        median = row["median"]
        return (round(float(median), 1) if median is not None else None), int(row["households"] or 0)
    records = ServiceRecord.all()
    if scope.region_path:
        records = records.filter(visit__request__household_id__in=Subquery(_households_in(scope)))
    first_served = {
        household_id: aware(moment)
        for household_id, moment in await records.annotate(first=Min("completed_at"))
        .group_by("visit__request__household_id")
        .values_list("visit__request__household_id", "first")
        if moment is not None
    }
    first_served = {key: moment for key, moment in first_served.items() if start <= moment < end}
    first_flag: dict[int, Any] = {}
    ids = list(first_served)
    for offset in range(0, len(ids), 5000):
        first_flag.update(
            await Flag.filter(household_id__in=ids[offset : offset + 5000])
            .annotate(first=Min("detected_at"))
            .group_by("household_id")
            .values_list("household_id", "first")
        )
    days = [
        max(0.0, (first_served[household_id] - aware(flagged)).total_seconds() / 86400)
        for household_id, flagged in first_flag.items()
        if flagged is not None
    ]
    return (round(statistics.median(days), 1) if days else None), len(days)

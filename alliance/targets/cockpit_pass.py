"""The worker's figures for many scopes from one pass: every community's counts read once and added up
the region tree (they are additive), and the per-household rows the medians and the ranked unserved
list need read once and cut by scope. A scan per scope made the cron's cost grow with the visits times
the scopes; this is one scan per refresh, whatever the number of coordinators."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from tortoise.expressions import Subquery
from tortoise.functions import Count, Min

from alliance.core.codes import RequestStatus, VisitStatus
from alliance.core.timeutil import aware
from alliance.households.models import Flag
from alliance.matching.models import Match, ServiceRequest
from alliance.targets.operational import AGE_BUCKETS, Operational, age_bucket_label
from alliance.targets.pace import _year_bounds
from alliance.targets.progress import _connection
from alliance.targets.scopes import Scope
from alliance.targets.unserved import NeverServed, RankedHousehold, never_served, rank_waiting
from alliance.visits.models import ServiceRecord, Visit

T = TypeVar("T")

# Counts kept per region path, in this order (the open requests by age first, as AGE_BUCKETS).
OPEN_TOTAL, WITHOUT_CANDIDATE, CLAIMS_WAITING, VISITS_MISSED = range(len(AGE_BUCKETS), len(AGE_BUCKETS) + 4)


@dataclass
class Pass:
    """What one pass read for the subtree at `region_path`."""

    region_path: str
    # By region path (the households' communities): the counts as above; per household first served
    # in the year, the days from its first flag to that service; the households never served.
    counts: dict[str, list[int]] = field(default_factory=dict)
    served_days: dict[str, list[float]] = field(default_factory=dict)
    never_served: dict[str, list[NeverServed]] = field(default_factory=dict)

    def covers(self, scope: Scope) -> bool:
        return scope.region_path.startswith(self.region_path)

    def regions_in(self, scope: Scope, rows: dict[str, list[T]]) -> list[T]:
        # A scope looks at its communities' rows only: the scopes of a refresh cost their own size.
        return [row for path, found in rows.items() if path.startswith(scope.region_path) for row in found]


def common_path(scopes: list[Scope]) -> str:
    """The smallest subtree holding every scope ("" when the whole alliance is among them)."""
    prefix = os.path.commonprefix([scope.region_path for scope in scopes])
    return prefix[: prefix.rfind("/") + 1]


def _in_subtree(query: Any, relation: str, region_path: str) -> Any:
    return query.filter(**{f"{relation}__path__startswith": region_path}) if region_path else query


async def read_pass(region_path: str, year: int, now: datetime) -> Pass:
    """One pass over the subtree's requests, visits and flags (from the caller's connection: the
    replica inside db.reading_replica)."""
    found = Pass(region_path)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * (VISITS_MISSED + 1))
    region = "household__region"
    for path, created in await _in_subtree(
        ServiceRequest.filter(status=RequestStatus.OPEN), region, region_path
    ).values_list(f"{region}__path", "created_at"):
        age = (now - aware(created)).total_seconds() / 86400
        row = counts[path or ""]
        row[OPEN_TOTAL] += 1
        for position, (low, high) in enumerate(AGE_BUCKETS):
            if age >= low and (high is None or age < high):
                row[position] += 1
    without_candidate = (
        ServiceRequest.filter(status=RequestStatus.OPEN, matched_at__isnull=False)
        .exclude(id__in=Subquery(Match.all().values("request_id")))
        .annotate(n=Count("id"))
    )
    claims = ServiceRequest.filter(status=RequestStatus.CLAIMED).annotate(n=Count("id"))
    start, end = _year_bounds(year)
    missed = Visit.filter(status=VisitStatus.MISSED, window_start__gte=start, window_start__lt=end).annotate(
        n=Count("id")
    )
    for position, query, relation in (
        (WITHOUT_CANDIDATE, without_candidate, region),
        (CLAIMS_WAITING, claims, region),
        (VISITS_MISSED, missed, f"request__{region}"),
    ):
        for path, number in (
            await _in_subtree(query, relation, region_path)
            .group_by(f"{relation}__path")
            .values_list(f"{relation}__path", "n")
        ):
            counts[path or ""][position] += int(number)
    found.counts = dict(counts)
    for path, days in await _served_days(region_path, year):
        found.served_days.setdefault(path, []).append(days)
    for household in await never_served(region_path):
        found.never_served.setdefault(household.region_path, []).append(household)
    return found


_SERVED_SQL = """
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
SELECT r.path AS path,
       GREATEST(0, EXTRACT(EPOCH FROM (s.first_done - f.first_flag)) / 86400.0)::float8 AS days
FROM served s JOIN flagged f ON f.household_id = s.household_id
JOIN household h ON h.id = s.household_id JOIN region r ON r.code = h.region_id
WHERE s.first_done >= $2 AND s.first_done < $3
"""


async def _served_days(region_path: str, year: int) -> list[tuple[str, float]]:
    """Per household of the subtree first served in `year`: its region's path and the days from its
    first flag to its first completed service (what operational._median_days_to_first_service
    takes the median of, there per scope)."""
    start, end = _year_bounds(year)
    connection = _connection()
    if connection.capabilities.dialect == "postgres":
        rows = await connection.execute_query_dict(_SERVED_SQL, [region_path + "%", start, end])
        return [(str(row["path"]), float(row["days"])) for row in rows]
    household = "visit__request__household"
    first_served = {
        household_id: (path, aware(moment))
        for household_id, path, moment in await _in_subtree(
            ServiceRecord.all(), f"{household}__region", region_path
        )
        .annotate(first=Min("completed_at"))
        .group_by(f"{household}_id", f"{household}__region__path")
        .values_list(f"{household}_id", f"{household}__region__path", "first")
        if moment is not None and start <= aware(moment) < end
    }
    ids = list(first_served)
    days: list[tuple[str, float]] = []
    for offset in range(0, len(ids), 5000):
        for household_id, flagged in (
            await Flag.filter(household_id__in=ids[offset : offset + 5000])
            .annotate(first=Min("detected_at"))
            .group_by("household_id")
            .values_list("household_id", "first")
        ):
            if flagged is not None:
                path, served = first_served[household_id]
                days.append((str(path or ""), max(0.0, (served - aware(flagged)).total_seconds() / 86400)))
    return days


def operational_of(found: Pass, scope: Scope) -> Operational:
    """The scope's operational figures: its regions' counts added up, the median over its households."""
    total = [0] * (VISITS_MISSED + 1)
    for path, row in found.counts.items():
        if path.startswith(scope.region_path):
            total = [mine + theirs for mine, theirs in zip(total, row, strict=True)]
    days = found.regions_in(scope, found.served_days)
    return Operational(
        open_by_age=[
            (age_bucket_label(low, high), total[position]) for position, (low, high) in enumerate(AGE_BUCKETS)
        ],
        open_total=total[OPEN_TOTAL],
        without_candidate=total[WITHOUT_CANDIDATE],
        median_days_to_first_service=round(statistics.median(days), 1) if days else None,
        households_served=len(days),
        claims_waiting=total[CLAIMS_WAITING],
        visits_missed=total[VISITS_MISSED],
    )


def unserved_of(
    found: Pass, scope: Scope, days: int, now: datetime, limit: int | None
) -> tuple[int, list[RankedHousehold]]:
    return rank_waiting(found.regions_in(scope, found.never_served), days, now, limit)

"""Regular visits: each household's visiting rhythm (from its flags and open risks, set per region),
the stored worklist of due and overdue visits per community worker (rebuilt by an arq cron, which also
writes the warnings), and the community worker's own visit: check-in by card or GPS, the six-aspect
risk check, check-out. A risk found is a follow-up owned by the worker with a due date; a later visit
finds it gone (closed) or still there (escalated to the region's coordinators)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from geopy.distance import geodesic
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record, viewed
from alliance.core.codes import CheckInMethod, FlagCode, LocationPrecision, RiskAspect, Role
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region, User
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Flag, Household
from alliance.matching.claims import InvalidTransition
from alliance.notifications.notifications import coordinators_over, to_users, write_notices
from alliance.targets.tallies import count_regular_visit
from alliance.visits.cards import verify_card
from alliance.visits.checkins import _client_key, _coordinate, household_checkin_radius_m
from alliance.visits.dayplan import DayPlan, Stop, plan_route
from alliance.visits.models import RegularDue, RegularRisk, RegularVisit, RiskCheck, VisitRhythm
from alliance.visits.service_records import OPEN_RISK_LEVELS, parse_record

# The kinds of household a rhythm is set for, most frequent first; a household takes the shortest
# interval of the kinds it is.
ELDERLY_ALONE = "elderly_alone"
HEALTH_RISK = "health_risk"
SPECIAL_HARDSHIP = "hardship"
OTHER = "other"
RHYTHM_KINDS = (ELDERLY_ALONE, HEALTH_RISK, SPECIAL_HARDSHIP, OTHER)
DEFAULT_INTERVAL_DAYS = {ELDERLY_ALONE: 14, HEALTH_RISK: 14, SPECIAL_HARDSHIP: 30, OTHER: 91}
MAX_INTERVAL_DAYS = 366
FOLLOW_UP_DAYS = 7
DEFAULT_WARN_COORDINATORS_AFTER_DAYS = 3


def kind_label(kind: str) -> str:
    return {
        ELDERLY_ALONE: _("Elderly living alone"),
        HEALTH_RISK: _("An open health risk"),
        SPECIAL_HARDSHIP: _("Special hardship"),
        OTHER: _("Other households"),
    }.get(kind, kind)


def _today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


# --- the rhythm --------------------------------------------------------------------------------------


async def rhythms_for(region_paths: list[str]) -> dict[str, dict[str, int]]:
    """Each region path's interval per kind: its own setting, else its nearest ancestor's, else the
    default. One query."""
    codes = {code for path in region_paths for code in path.strip("/").split("/") if code}
    rows = await VisitRhythm.filter(region_id__in=list(codes)).values_list(
        "region_id", "kind", "interval_days"
    )
    own: dict[tuple[str, str], int] = {(str(code), kind): days for code, kind, days in rows}
    found: dict[str, dict[str, int]] = {}
    for path in set(region_paths):
        chain = [code for code in path.strip("/").split("/") if code]
        found[path] = {
            kind: next(
                (own[(code, kind)] for code in reversed(chain) if (code, kind) in own),
                DEFAULT_INTERVAL_DAYS[kind],
            )
            for kind in RHYTHM_KINDS
        }
    return found


async def _kinds_of(household_ids: list[int]) -> dict[int, set[str]]:
    kinds: dict[int, set[str]] = {household_id: {OTHER} for household_id in household_ids}
    for household_id, code in await Flag.filter(
        household_id__in=household_ids,
        active=True,
        code__in=[FlagCode.ELDERLY_ALONE, FlagCode.SPECIAL_HARDSHIP],
    ).values_list("household_id", "code"):
        kinds[household_id].add(ELDERLY_ALONE if code == FlagCode.ELDERLY_ALONE else SPECIAL_HARDSHIP)
    open_health = {"household_id__in": household_ids, "aspect": RiskAspect.HEALTH}
    for model in (RiskCheck, RegularRisk):
        for household_id in await model.filter(
            **open_health, level__in=list(OPEN_RISK_LEVELS), resolved_at__isnull=True
        ).values_list("household_id", flat=True):
            kinds[household_id].add(HEALTH_RISK)
    return kinds


@dataclass
class WorklistSweep:
    households: int = 0
    due: int = 0
    overdue: int = 0
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {
            "households": self.households,
            "due": self.due,
            "overdue": self.overdue,
            "notifications": len(self.notification_ids),
        }


def _overdue_message(name: str, due_on: date) -> object:
    def message(_channel: object) -> str:
        return _("Regular visit overdue: {name} was due on {day}.").format(name=name, day=due_on.isoformat())

    return message


def _late_message(name: str, due_on: date, worker: str) -> object:
    def message(_channel: object) -> str:
        return _("Regular visit still overdue: {name} (due {day}, community worker {worker}).").format(
            name=name, day=due_on.isoformat(), worker=worker
        )

    return message


def _follow_up_message(name: str, aspect: str, due_on: date) -> object:
    def message(_channel: object) -> str:
        return _("Follow-up past due: the {aspect} risk of {name} was due on {day}.").format(
            aspect=label(aspect), name=name, day=due_on.isoformat()
        )

    return message


async def refresh_worklists(now: datetime | None = None, region_code: str | None = None) -> WorklistSweep:
    """Rebuild every community worker's worklist (the households of their community, each with its
    next due day) and warn: an overdue visit or follow-up to the worker, and one overdue N more days
    (the region's escalation days, default 3) to the coordinators over the region. Each notice has a dedupe key: a run twice writes it once."""
    now = now or utc_now()
    today = _today(now)
    sweep = WorklistSweep()
    workers = await User.filter(
        role=Role.COMMUNITY_WORKER, is_active=True, region_id__isnull=False
    ).prefetch_related("region")
    by_region: dict[str, list[User]] = {}
    for worker in workers:
        by_region.setdefault(str(worker.region_id), []).append(worker)  # type: ignore[attr-defined]
    rhythms = await rhythms_for([worker.region.path for worker in workers])
    for region_code, region_workers in by_region.items():
        path = region_workers[0].region.path
        households = await Household.filter(region_id=region_code).values_list("id", "head_name")
        ids = [household_id for household_id, _name in households]
        names = dict(households)
        kinds = await _kinds_of(ids)
        last: dict[int, datetime] = {}
        for household_id, at in await RegularVisit.filter(
            household_id__in=ids, checked_out_at__isnull=False
        ).values_list("household_id", "checked_out_at"):
            if household_id not in last or at > last[household_id]:
                last[household_id] = at
        wanted: dict[int, tuple[str, int, date]] = {}
        for household_id in ids:
            kind = min(kinds[household_id], key=lambda k: (rhythms[path][k], RHYTHM_KINDS.index(k)))
            days = rhythms[path][kind]
            seen = last.get(household_id)
            # Never visited: due now.
            due_on = _today(seen) + timedelta(days=days) if seen else today
            wanted[household_id] = (kind, days, due_on)
        # The region's escalation days (as for unclaimed requests; default 3).
        escalate = (
            await inherited_setting(
                [path], "escalate_unclaimed_after_days", DEFAULT_WARN_COORDINATORS_AFTER_DAYS
            )
        )[path]
        coordinators = await coordinators_over(path)
        async with in_transaction():
            for worker in region_workers:
                await RegularDue.filter(worker_id=worker.id).exclude(household_id__in=ids).delete()
                for household_id, (kind, days, due_on) in wanted.items():
                    fields = {
                        "kind": kind,
                        "interval_days": days,
                        "last_visit_at": last.get(household_id),
                        "due_on": due_on,
                        "refreshed_at": now,
                    }
                    updated = await RegularDue.filter(worker_id=worker.id, household_id=household_id).update(
                        **fields
                    )
                    if not updated:
                        await RegularDue.create(worker_id=worker.id, household_id=household_id, **fields)
                    if due_on <= today:
                        sweep.due += 1
                    if due_on < today:
                        sweep.overdue += 1
                        name = names[household_id]
                        sweep.notification_ids += await write_notices(
                            to_users([worker], _overdue_message(name, due_on)),  # type: ignore[arg-type]
                            kind="regular_visit_overdue",
                            dedupe_prefix=f"regular:{household_id}:{due_on.isoformat()}",
                        )
                        if (today - due_on).days >= escalate:
                            sweep.notification_ids += await write_notices(
                                to_users(
                                    coordinators,
                                    _late_message(name, due_on, worker.display_name or worker.username),
                                ),  # type: ignore[arg-type]
                                kind="regular_visit_escalated",
                                dedupe_prefix=f"regular-late:{household_id}:{due_on.isoformat()}",
                            )
            sweep.households += len(ids)
            # Follow-ups past their due day: to their owner, then (N days on) to the coordinators.
            for risk in await RegularRisk.filter(
                household__region_id=region_code,
                resolved_at__isnull=True,
                due_on__lt=today,
                owner_id__isnull=False,
            ).prefetch_related("owner", "household"):
                message = _follow_up_message(risk.household.head_name, str(risk.aspect), risk.due_on)
                sweep.notification_ids += await write_notices(
                    to_users([risk.owner], message),  # type: ignore[arg-type]
                    kind="regular_follow_up_overdue",
                    dedupe_prefix=f"regular-risk:{risk.id}",
                )
                if (today - risk.due_on).days >= escalate:
                    sweep.notification_ids += await write_notices(
                        to_users(coordinators, message),  # type: ignore[arg-type]
                        kind="regular_follow_up_escalated",
                        dedupe_prefix=f"regular-risk-late:{risk.id}",
                    )
    return sweep


# --- the worker's list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRow:
    household_id: int
    name: str
    address: str
    kind: str
    interval_days: int
    last_visit_at: datetime | None
    due_on: date
    overdue: bool
    open_visit_id: int | None


@dataclass
class MyVisits:
    rows: list[DueRow]
    plan: DayPlan
    refreshed_at: datetime | None


async def my_regular_visits(principal: Principal, now: datetime | None = None, address: str = "") -> MyVisits:
    """The worker's households due today or overdue (from the stored worklist), in route order. A
    worker whose list was never built (new to the community) gets it built at once."""
    require(principal, Action.VISIT_REGULARLY)
    today = _today(now or utc_now())
    if principal.region_code and not await RegularDue.exists(worker_id=principal.user_id):
        await refresh_worklists(now, region_code=principal.region_code)
    dues = (
        await RegularDue.filter(worker_id=principal.user_id, due_on__lte=today)
        .order_by("due_on", "household_id")
        .prefetch_related("household")
    )
    open_visits = dict(
        await RegularVisit.filter(
            worker_id=principal.user_id,
            checked_out_at__isnull=True,
            household_id__in=[d.household_id for d in dues],  # type: ignore[attr-defined]
        ).values_list("household_id", "id")
    )
    rows = {
        due.household_id: DueRow(  # type: ignore[attr-defined]
            household_id=due.household_id,  # type: ignore[attr-defined]
            name=due.household.head_name,
            address=due.household.address or "",
            kind=due.kind,
            interval_days=due.interval_days,
            last_visit_at=due.last_visit_at,
            due_on=due.due_on,
            overdue=due.due_on < today,
            open_visit_id=open_visits.get(due.household_id),  # type: ignore[attr-defined]
        )
        for due in dues
    }
    stops = [
        Stop(
            key=due.household_id,  # type: ignore[attr-defined]
            point=(due.household.lat, due.household.lon) if due.household.lat is not None else None,
            label=due.household.head_name,
        )
        for due in dues
    ]
    plan = plan_route(None, stops, today)
    if rows:
        await viewed(principal, "regular_visits.view", households=list(rows), address=address)
    return MyVisits(
        rows=[rows[key] for key in plan.order],
        plan=plan,
        refreshed_at=max((due.refreshed_at for due in dues), default=None),
    )


# --- the visit ---------------------------------------------------------------------------------------


async def _household(principal: Principal, household_id: int) -> Household:
    require(principal, Action.VISIT_REGULARLY)
    return await get_visible(principal, Action.VISIT_REGULARLY, household_id)


async def _begin(
    principal: Principal, household: Household, key: str | None, at: datetime | None = None, **fields: object
) -> RegularVisit:
    if key:
        existing = await RegularVisit.get_or_none(client_key=key)
        if existing is not None:
            return existing
    already = await RegularVisit.get_or_none(
        worker_id=principal.user_id, household_id=household.id, checked_out_at__isnull=True
    )
    if already is not None:
        return already
    visit = await RegularVisit.create(
        household_id=household.id,
        worker_id=principal.user_id,
        checked_in_at=at if at is not None and at <= utc_now() else utc_now(),
        client_key=key,
        **fields,
    )
    await record(
        principal,
        "regular_visit.check_in",
        "household",
        household.id,
        {"visit": visit.id, "method": str(visit.method)},
    )
    return visit


async def check_in_by_card(
    principal: Principal,
    household_id: int,
    secret_key: str,
    *,
    token: str = "",
    code: str = "",
    client_key: str | None = None,
    at: datetime | None = None,
) -> RegularVisit:
    """Check in with the household's signed card (scanned or its printed code), as volunteers do."""
    household = await _household(principal, household_id)
    if not token.strip() and not code.strip():
        raise InvalidInput({"code": _("Scan the card or type the code printed under it.")})
    proof = verify_card(secret_key, household, token=token, code=code)
    return await _begin(
        principal, household, _client_key(client_key), at, method=CheckInMethod.QR, reason=proof.by
    )


async def check_in_by_gps(
    principal: Principal,
    household_id: int,
    lat: object,
    lon: object,
    *,
    client_key: str | None = None,
    at: datetime | None = None,
) -> RegularVisit:
    """Check in by the phone's position; farther than the radius (or no household point): flagged."""
    household = await _household(principal, household_id)
    latitude = _coordinate(lat, "lat", -90, 90)  # type: ignore[arg-type]
    longitude = _coordinate(lon, "lon", -180, 180)  # type: ignore[arg-type]
    distance = None
    needs_review = True
    note = "household has no position"
    if household.lat is not None and household.lon is not None:
        distance = geodesic((latitude, longitude), (household.lat, household.lon)).meters
        if household.location_precision == LocationPrecision.REGION:
            note = "household placed at its region's centre only"
        else:
            needs_review = distance > await household_checkin_radius_m(household)
            note = f"{round(distance)} m from the household" if needs_review else ""
    return await _begin(
        principal,
        household,
        _client_key(client_key),
        at,
        method=CheckInMethod.GPS,
        lat=latitude,
        lon=longitude,
        distance_m=distance,
        needs_review=needs_review,
        reason=note,
    )


@dataclass
class RegularOutcome:
    visit: RegularVisit
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)


def _escalated_message(name: str, aspect: str, note: str) -> object:
    def message(_channel: object) -> str:
        return _("A follow-up was escalated: the {aspect} risk of {name} is still there ({note}).").format(
            aspect=label(aspect), name=name, note=note
        )

    return message


async def check_out(
    principal: Principal,
    visit_id: int,
    *,
    notes: str,
    risks: Mapping[str, tuple[str, str]],
    now: datetime | None = None,
) -> RegularOutcome:
    """Record the six-aspect risk check and notes and end the visit, in one transaction. A risk at
    medium or high opens a follow-up (owner: the worker, due in 7 days); a risk found again at a later
    visit escalates it to the coordinators; a risk found gone closes it."""
    require(principal, Action.VISIT_REGULARLY)
    visit = await RegularVisit.get_or_none(id=visit_id, worker_id=principal.user_id)
    if visit is None:
        raise NotFound(f"regular visit {visit_id}")
    household = await _household(principal, visit.household_id)  # type: ignore[attr-defined]
    if visit.checked_out_at is not None:
        raise InvalidTransition(_("This visit is already checked out."))
    form = parse_record(
        service=_("Regular visit"),
        duration_minutes=1,
        persons_served=1,
        notes=notes,
        risks=risks,
        member_count=1,
    )
    now = now or utc_now()
    outcome = RegularOutcome(visit)
    region_path = (await Region.get(code=household.region_id)).path  # type: ignore[attr-defined]
    async with in_transaction():
        ended = await RegularVisit.filter(id=visit.id, checked_out_at__isnull=True).update(
            checked_out_at=now, notes=form.notes
        )
        if not ended:
            raise InvalidTransition(_("This visit is already checked out."))
        earlier = {
            str(risk.aspect): risk
            for risk in await RegularRisk.filter(
                household_id=household.id, resolved_at__isnull=True, level__in=list(OPEN_RISK_LEVELS)
            ).exclude(visit_id=visit.id)
        }
        for aspect, (level, note) in form.risks.items():
            found = level in OPEN_RISK_LEVELS
            row = await RegularRisk.create(
                visit_id=visit.id,
                household_id=household.id,
                aspect=aspect,
                level=level,
                note=note,
                owner_id=principal.user_id if found else None,
                due_on=_today(now) + timedelta(days=FOLLOW_UP_DAYS) if found else None,
            )
            before = earlier.get(aspect.value)
            if found and before is None:
                outcome.opened.append(row.id)
            if before is not None:
                await RegularRisk.filter(id=before.id).update(resolved_at=now, resolved_by_id=visit.id)
                if found:
                    outcome.escalated.append(row.id)
                    await RegularRisk.filter(id=row.id).update(escalated_at=now)
                    outcome.notification_ids += await write_notices(
                        to_users(
                            await coordinators_over(region_path),
                            _escalated_message(household.head_name, aspect.value, note),
                        ),  # type: ignore[arg-type]
                        kind="regular_follow_up_escalated",
                        dedupe_prefix=f"regular-escalated:{row.id}",
                    )
                else:
                    outcome.resolved.append(before.id)
        # One person-time of the REGULAR_VISIT project, counted with the check-out it counts (the
        # guarded update above ends a visit once, so a repeated check-out never counts twice).
        await count_regular_visit(now, household.region_id, region_path)  # type: ignore[attr-defined]
        # The household is seen: its worklist rows move on (the cron recomputes the rhythm).
        for due in await RegularDue.filter(household_id=household.id):
            await RegularDue.filter(id=due.id).update(
                last_visit_at=now, due_on=_today(now) + timedelta(days=due.interval_days)
            )
    await record(
        principal,
        "regular_visit.check_out",
        "household",
        household.id,
        {
            "visit": visit.id,
            "opened": len(outcome.opened),
            "escalated": len(outcome.escalated),
            "resolved": len(outcome.resolved),
        },
    )
    await visit.refresh_from_db()
    return outcome


async def visit_page(
    principal: Principal, household_id: int, address: str = ""
) -> tuple[RegularVisit | None, Household, list[RegularRisk]]:
    """The worker's visit under way at this household (None: not checked in yet) and the household's
    open follow-ups, for the visit page."""
    household = await _household(principal, household_id)
    visit = await RegularVisit.get_or_none(
        worker_id=principal.user_id, household_id=household.id, checked_out_at__isnull=True
    )
    risks = await RegularRisk.filter(
        household_id=household.id, resolved_at__isnull=True, level__in=list(OPEN_RISK_LEVELS)
    ).order_by("aspect")
    await viewed(
        principal,
        "regular_visit.view",
        ("household", household.id),
        households=[household.id],
        address=address,
    )
    return visit, household, risks


async def check_out_at_household(
    principal: Principal,
    household_id: int,
    *,
    notes: str,
    risks: Mapping[str, tuple[str, str]],
    at: datetime | None = None,
) -> RegularOutcome:
    """Check out of the worker's visit under way at this household (the offline page knows the
    household, not the visit id its queued check-in will get)."""
    household = await _household(principal, household_id)
    visit = await RegularVisit.get_or_none(
        worker_id=principal.user_id, household_id=household.id, checked_out_at__isnull=True
    )
    if visit is None:
        raise InvalidTransition(_("Check in at the door before checking out."))
    now = utc_now()
    moment = at if at is not None and visit.checked_in_at <= at <= now else now
    return await check_out(principal, visit.id, notes=notes, risks=risks, now=moment)


# --- the region's rhythm settings --------------------------------------------------------------------


async def region_rhythm(principal: Principal) -> tuple[Region, dict[str, int], dict[str, int]]:
    """The coordinator's region, its effective intervals and the ones it sets itself."""
    require(principal, Action.SET_VISIT_RHYTHM)
    region = (
        await visible(principal, Action.SET_VISIT_RHYTHM).filter(code=principal.region_code or "").first()
    )
    if region is None:
        raise NotFound("region")
    effective = (await rhythms_for([region.path]))[region.path]
    own = dict(await VisitRhythm.filter(region_id=region.code).values_list("kind", "interval_days"))
    return region, effective, {str(k): int(v) for k, v in own.items()}


async def set_region_rhythm(principal: Principal, values: Mapping[str, str]) -> dict[str, int]:
    """Set (a number) or clear (empty: inherit) the region's interval of each kind; all or nothing."""
    region, _effective, own = await region_rhythm(principal)
    errors: dict[str, str] = {}
    wanted: dict[str, int | None] = {}
    for kind in RHYTHM_KINDS:
        text = str(values.get(kind, "")).strip()
        if not text:
            wanted[kind] = None
            continue
        try:
            days = int(text)
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_INTERVAL_DAYS:
            errors[kind] = _("{kind}: the interval is a whole number of days from 1 to 366.").format(
                kind=kind_label(kind)
            )
        wanted[kind] = days
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        for kind, days in wanted.items():
            if days is None:
                await VisitRhythm.filter(region_id=region.code, kind=kind).delete()
            elif not await VisitRhythm.filter(region_id=region.code, kind=kind).update(
                interval_days=days, updated_by_id=principal.user_id
            ):
                await VisitRhythm.create(
                    region_id=region.code, kind=kind, interval_days=days, updated_by_id=principal.user_id
                )
        after = {kind: days for kind, days in wanted.items() if days is not None}
        await record(principal, "visit_rhythm.set", "region", region.code, {"before": own, "after": after})
    return after

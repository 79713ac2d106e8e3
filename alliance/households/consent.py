"""Verification and consent that bind.

A household is unverified until a community worker (or coordinator) confirms it: who, when, how
(home visit, phone, documents). Its consent has a scope (share with partners; contact by SMS, voice,
in person), the way it was given (signed paper, spoken with a witness, by the household in the app)
and an expiry; every recording is kept (`ConsentRecord`) and audited.

Households from the assistance system arrive with `consent_status = system`: the assistance system
records the applicant's consent to share in its own process, so sharing is allowed until a worker
records otherwise (docs/casework.md). `Household.matchable` is what matching and the claim board
filter on: consented to sharing, not expired, and verified where the region requires it
(`Region.verification_required`, inherited down the tree, default no). `refresh_matchable` keeps it
true after every change here; what withdrawal does to boards and visits is in
`alliance/visits/consent_effects.py`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery

from alliance.core.access import Action as A
from alliance.core.access import Principal, get_visible
from alliance.core.audit import record
from alliance.core.codes import (
    ConsentMethod,
    ConsentScope,
    ConsentStatus,
    Role,
    TaskKind,
    TaskState,
    VerificationMethod,
)
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import Region, User
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import utc_now
from alliance.households.models import ConsentRecord, Household, IntakeRecord
from alliance.notifications.models import Task
from alliance.notifications.notifications import community_workers_of, coordinator_ids_over
from alliance.notifications.tasks import Subject, close_tasks, open_key, open_task

# Built-in default of the region policy "verification required before matching": no. Intake
# households come from the assistance system, which has checked them; a region that wants its
# workers to see every household first turns it on (docs/casework.md).
DEFAULT_VERIFICATION_REQUIRED = False
# "Consent expires" tasks open this long before the expiry.
CONSENT_WARNING = timedelta(days=14)
MAX_WITNESS = 64
SHARING_STATES = (ConsentStatus.SYSTEM, ConsentStatus.GIVEN)


def shares(household: Household, now: datetime | None = None) -> bool:
    """Consented to sharing with partners now."""
    if household.consent_status not in SHARING_STATES:
        return False
    # A recorded consent shares only with the "share" scope (`consent` says whether it has it).
    if household.consent_status == ConsentStatus.GIVEN and not household.consent:
        return False
    expires = household.consent_expires_at
    return expires is None or expires > (now or utc_now())


async def verification_required(region_paths: Iterable[str]) -> dict[str, bool]:
    """The region policy for each path: its own value, else its nearest ancestor's, else the default."""
    found = await inherited_setting(region_paths, "verification_required", int(DEFAULT_VERIFICATION_REQUIRED))
    return {path: bool(value) for path, value in found.items()}


async def refresh_matchable(
    household_ids: Sequence[int] | None = None, region_path: str | None = None, of_batch: int | None = None
) -> int:
    """Recompute `Household.matchable` for these households (or every household under `region_path`,
    or every household an intake batch wrote); how many changed. Two updates per policy value,
    whatever the number of households."""
    if household_ids is not None and len(household_ids) > 1000:
        return sum(
            [
                await refresh_matchable(household_ids[start : start + 1000])
                for start in range(0, len(household_ids), 1000)
            ]
        )
    query = Household.all()
    if household_ids is not None:
        query = query.filter(id__in=list(household_ids))
    if of_batch is not None:
        written = IntakeRecord.filter(last_batch_id=of_batch).values("household_id")
        query = query.filter(id__in=Subquery(written))
    if region_path is not None:
        codes = await Region.filter(path__startswith=region_path).values_list("code", flat=True)
        query = query.filter(region_id__in=list(codes))
    regions = await query.distinct().values_list("region__path", "region_id")
    if not regions:
        return 0
    required = await verification_required(path for path, _code in regions)
    now = utc_now()
    consented = (
        Q(consent_status=ConsentStatus.SYSTEM) | Q(consent_status=ConsentStatus.GIVEN, consent=True)
    ) & (Q(consent_expires_at__isnull=True) | Q(consent_expires_at__gt=now))
    changed = 0
    for needs_verification in (True, False):
        codes = [code for path, code in regions if required[path] == needs_verification]
        if not codes:
            continue
        scoped = query.filter(region_id__in=codes)
        yes = consented & Q(verified=True) if needs_verification else consented
        changed += await scoped.filter(yes, matchable=False).update(matchable=True)
        changed += await scoped.filter(~yes, matchable=True).update(matchable=False)
    return changed


@dataclass
class ConsentChange:
    household: Household
    # Sharing stopped by this change: the caller takes the household off boards and visits.
    sharing_stopped: bool


async def verify_household(
    principal: Principal, household_id: int, method: str, note: str = "", address: str = ""
) -> Household:
    """A worker or coordinator confirms the household; its "verify" tasks close."""
    household = await get_visible(principal, A.VERIFY_HOUSEHOLDS, household_id)
    if method not in VerificationMethod.__members__.values():
        raise InvalidInput({"method": _("Choose how the household was verified.")})
    if len(note) > 255:
        raise InvalidInput({"note": _("At most {count} characters.").format(count=255)})
    now = utc_now()
    await Household.filter(id=household.id).update(
        verified=True, verified_at=now, verified_by_id=principal.user_id, verification_method=method
    )
    await record(
        principal,
        "household.verify",
        "household",
        household.id,
        {"method": method, "note": note.strip()},
        address,
        households=[household.id],
    )
    await close_tasks(
        TaskKind.VERIFY_HOUSEHOLD,
        Subject("household", household.id),
        closed_by_id=principal.user_id,
        note="verified",
    )
    await refresh_matchable([household.id])
    await household.refresh_from_db()
    return household


def _parse_expiry(value: str) -> datetime | None:
    from alliance.core.timeutil import LOCAL_TZ

    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput({"expires_on": _("Give the expiry as a date, e.g. 2027-06-30.")}) from error
    # The end of that day, Shanghai time.
    end = datetime(day.year, day.month, day.day, 23, 59, tzinfo=LOCAL_TZ)
    if end <= utc_now():
        raise InvalidInput({"expires_on": _("The expiry must be in the future.")})
    return end


async def record_consent(
    principal: Principal,
    household_id: int,
    *,
    scope: Iterable[str],
    method: str,
    witness: str = "",
    expires_on: str = "",
    address: str = "",
) -> ConsentChange:
    """Record the household's consent as it stands now. An empty scope withdraws it. A household
    records its own consent in the app only (method `in_app`); staff record paper or spoken consent
    (a witness named for spoken consent)."""
    household = await get_visible(principal, A.RECORD_CONSENT, household_id)
    chosen = [code for code in ConsentScope if code in set(scope)]
    unknown = set(scope) - set(ConsentScope.__members__.values())
    errors: dict[str, str] = {}
    if unknown:
        errors["scope"] = _("Unknown consent scope: {codes}").format(codes=", ".join(sorted(unknown)))
    by_household = principal.role == Role.HOUSEHOLD
    if by_household:
        method = ConsentMethod.IN_APP
    elif method not in (ConsentMethod.SIGNED_PAPER, ConsentMethod.SPOKEN_WITNESSED):
        errors["method"] = _("Choose how the consent was given: signed paper or spoken with a witness.")
    witness = " ".join(witness.split())
    if method == ConsentMethod.SPOKEN_WITNESSED and chosen and not witness:
        errors["witness"] = _("Name the witness of spoken consent.")
    if len(witness) > MAX_WITNESS:
        errors["witness"] = _("At most {count} characters.").format(count=MAX_WITNESS)
    try:
        expires_at = _parse_expiry(expires_on) if chosen else None
    except InvalidInput as error:
        errors.update(error.errors)
        expires_at = None
    if errors:
        raise InvalidInput(errors)
    was_sharing = shares(household)
    status = ConsentStatus.GIVEN if chosen else ConsentStatus.WITHDRAWN
    now = utc_now()
    await Household.filter(id=household.id).update(
        consent=ConsentScope.SHARE in chosen,
        consent_status=status,
        consent_scope=[str(code) for code in chosen],
        consent_method=str(method),
        consent_expires_at=expires_at,
        consent_recorded_at=now,
        consent_recorded_by_id=principal.user_id,
    )
    await ConsentRecord.create(
        household_id=household.id,
        status=status,
        scope=[str(code) for code in chosen],
        method=str(method),
        witness=witness,
        expires_at=expires_at,
        recorded_by_id=principal.user_id,
        by_household=by_household,
        at=now,
    )
    await record(
        principal,
        "household.consent" if chosen else "household.consent_withdrawn",
        "household",
        household.id,
        {
            "scope": [str(code) for code in chosen],
            "method": str(method),
            "witness": witness,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        address,
        households=[household.id],
    )
    await close_tasks(
        TaskKind.CONSENT_EXPIRES,
        Subject("household", household.id),
        closed_by_id=principal.user_id,
        note="recorded",
    )
    await refresh_matchable([household.id])
    await household.refresh_from_db()
    return ConsentChange(household, sharing_stopped=was_sharing and not shares(household))


async def consent_history(household_id: int, limit: int = 50) -> list[ConsentRecord]:
    return (
        await ConsentRecord.filter(household_id=household_id)
        .order_by("-at", "-id")
        .limit(limit)
        .prefetch_related("recorded_by")
    )


async def expire_consents(now: datetime | None = None) -> list[int]:
    """The cron: consents past their expiry become `expired` (history kept); returns the households
    whose sharing stopped now."""
    now = now or utc_now()
    ids = list(
        await Household.filter(consent_status=ConsentStatus.GIVEN, consent_expires_at__lte=now).values_list(
            "id", flat=True
        )
    )
    if not ids:
        return []
    await Household.filter(id__in=ids, consent_status=ConsentStatus.GIVEN).update(
        consent_status=ConsentStatus.EXPIRED, consent=False
    )
    await ConsentRecord.bulk_create(
        [ConsentRecord(household_id=hid, status=ConsentStatus.EXPIRED, scope=[], at=now) for hid in ids]
    )
    for household_id in ids:
        await record(
            None, "household.consent_expired", "household", household_id, {}, households=[household_id]
        )
    await refresh_matchable(ids)
    return ids


async def warn_expiring_consents(now: datetime | None = None) -> int:
    """The cron: a "consent expires" task for the community worker of each household whose consent
    expires within CONSENT_WARNING (idempotent while the task is open)."""
    now = now or utc_now()
    households = await Household.filter(
        consent_status=ConsentStatus.GIVEN,
        consent_expires_at__gt=now,
        consent_expires_at__lte=now + CONSENT_WARNING,
    ).limit(5000)
    opened = 0
    for household in households:
        for worker in await community_workers_of(household):
            await open_task(
                worker.id,
                TaskKind.CONSENT_EXPIRES,
                Subject("household", household.id),
                due_at=household.consent_expires_at,
                params={
                    "name": household.head_name,
                    "household_id": household.id,
                    "expires_at": household.consent_expires_at.isoformat()
                    if household.consent_expires_at
                    else None,
                },
            )
            opened += 1
    return opened


async def open_verification_tasks(
    household_ids: Sequence[int],
    due_in: timedelta = timedelta(days=7),
    owners: dict[str, list[int]] | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> int:
    """A "verify new household" task for the community worker(s) of each unverified household (the
    coordinators above when a community has no worker). Idempotent while the task is open; written in
    bulk, since a batch from the assistance system brings thousands. `owners`: who gets each
    region's tasks, kept by the caller across calls."""
    opened = 0
    for start in range(0, len(household_ids), 1000):
        part = list(household_ids[start : start + 1000])
        rows = (
            await Household.filter(id__in=part, verified=False)
            .using_db(connection)
            .values("id", "head_name", "address", "region_id", "region__path")
        )
        opened += await open_tasks_for_new(
            [
                NewHousehold(
                    row["id"], row["head_name"], row["address"], row["region_id"], row["region__path"]
                )
                for row in rows
            ],
            due_in,
            owners,
            connection,
        )
    return opened


@dataclass(frozen=True, slots=True)
class NewHousehold:
    """An unverified household, as its verification task names it."""

    id: int
    head_name: str
    address: str
    region_code: str
    region_path: str


async def open_tasks_for_new(
    households: Sequence[NewHousehold],
    due_in: timedelta = timedelta(days=7),
    owners: dict[str, list[int]] | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> int:
    """`open_verification_tasks` for households the caller holds already: an import, for the ones
    its chunk created (in the chunk's transaction, `connection`: a crash never leaves a new
    household without its task), without reading them back."""
    owners = {} if owners is None else owners
    regions = {row.region_code: row.region_path for row in households if row.region_code not in owners}
    if regions:
        found: dict[str, list[int]] = {code: [] for code in regions}
        for user_id, code in (
            await User.filter(role=Role.COMMUNITY_WORKER, is_active=True, region_id__in=list(regions))
            .using_db(connection)
            .values_list("id", "region_id")
        ):
            found[code].append(user_id)
        without_worker = {regions[code] for code, users in found.items() if not users}
        above = await coordinator_ids_over(without_worker, connection)
        for code, users in found.items():
            owners[code] = users or above[regions[code]]
    due = utc_now() + due_in
    tasks = [
        Task(
            owner_id=owner,
            kind=TaskKind.VERIFY_HOUSEHOLD,
            subject_type="household",
            subject_id=str(row.id),
            params={"name": row.head_name, "address": row.address, "household_id": row.id},
            due_at=due,
            state=TaskState.OPEN,
            open_key=open_key(owner, TaskKind.VERIFY_HOUSEHOLD, Subject("household", row.id)),
        )
        for row in households
        for owner in owners[row.region_code]
    ]
    if tasks:
        await Task.bulk_create(tasks, ignore_conflicts=True, using_db=connection)
    return len(tasks)


async def set_verification_required(
    principal: Principal, region_code: str, value: bool | None, address: str = ""
) -> Region:
    """Set (or, with None, inherit) the region's "verification required before matching" policy,
    audited; the region's households are re-evaluated for matching at once."""
    region = await get_visible(principal, A.SET_REGION_POLICY, region_code)
    previous = region.verification_required
    await Region.filter(code=region.code).update(verification_required=value)
    await record(
        principal,
        "region.policy",
        "region",
        region.code,
        {"setting": "verification_required", "from": previous, "to": value},
        address,
    )
    await refresh_matchable(region_path=region.path)
    await region.refresh_from_db()
    return region


async def unmatchable_household_ids(region_path: str) -> list[int]:
    """Households of the subtree that matching may not offer now (after a policy change)."""
    codes = await Region.filter(path__startswith=region_path).values_list("code", flat=True)
    return list(
        await Household.filter(region_id__in=list(codes), matchable=False).values_list("id", flat=True)
    )

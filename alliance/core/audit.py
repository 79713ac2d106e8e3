"""The audit trail: append-only, hash-chained entries of who did, saw or was refused what.

Every view of personal data (a household's name, phone, ID number, address; a volunteer's details)
goes through `viewed`; changes through `record`; refusals through `refused`. Each entry stores the
hash of the entry before it and the hash of its own content (`entry_hash`), in id order; appending
locks the one-row chain head (`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers), so
concurrent writers line up and the chain never forks. `verify` walks the chain and names the first
entry that does not fit: an edited, removed or inserted row. docs/security.md, "Audit trail".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from alliance.core import partitions
from alliance.core.access import Action, Principal, visible
from alliance.core.models import AuditChainHead, AuditEntry, AuditHousehold, Region, User
from alliance.core.timeutil import utc_now
from alliance.events.models import Registration
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification
from alliance.partners.models import Partner, Volunteer
from alliance.visits.models import Visit

GENESIS = "0" * 64
HEAD_ID = 1


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _plain(details: dict[str, Any] | None) -> dict[str, Any]:
    # Stored and hashed as plain JSON, so what is read back hashes the same as what was written.
    return json.loads(json.dumps(details or {}, default=str))


@dataclass
class Draft:
    """One entry before it is chained."""

    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] = field(default_factory=dict)
    address: str = ""
    actor_id: int | None = None
    actor_token_id: int | None = None
    actor_partner_id: int | None = None
    actor_name: str = ""
    household_id: int | None = None
    region_path: str = ""
    at: datetime = field(default_factory=utc_now)
    prev_hash: str = ""
    entry_hash: str = ""

    def content(self) -> str:
        return json.dumps(
            [
                self.prev_hash,
                _time(self.at),
                self.actor_id,
                self.actor_token_id,
                self.actor_partner_id,
                self.actor_name,
                self.action,
                self.object_type,
                self.object_id,
                self.household_id,
                self.details,
                self.address,
                self.region_path,
            ],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def hash(self) -> str:
        return hashlib.sha256(self.content().encode()).hexdigest()

    def values(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": self.details,
            "address": self.address,
            "actor_id": self.actor_id,
            "actor_token_id": self.actor_token_id,
            "actor_partner_id": self.actor_partner_id,
            "actor_name": self.actor_name,
            "household_id": self.household_id,
            "region_path": self.region_path,
            "at": self.at,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }

    @classmethod
    def of(cls, entry: AuditEntry) -> Draft:
        return cls(
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            details=entry.details,
            address=entry.address,
            actor_id=entry.actor_id,  # type: ignore[attr-defined]
            actor_token_id=entry.actor_token_id,
            actor_partner_id=entry.actor_partner_id,
            actor_name=entry.actor_name,
            household_id=entry.household_id,
            region_path=entry.region_path,
            at=entry.at,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
        )


async def _lock_head(connection: BaseDBAsyncClient) -> tuple[str, int]:
    """The head's (last hash, entries), locked until the transaction ends, in one round trip: an
    upsert makes the head on a new database and locks the row (PostgreSQL) or takes the write lock at
    once (SQLite: waiting for another writer instead of reading and then failing to upgrade)."""
    rows = await connection.execute_query_dict(
        'INSERT INTO "audit_chain_head" ("id", "last_hash", "entries") VALUES ('
        + str(HEAD_ID)
        + ", '"
        + GENESIS
        + '\', 0) ON CONFLICT ("id") DO UPDATE SET "entries" = "audit_chain_head"."entries" '
        'RETURNING "last_hash", "entries"'
    )
    return str(rows[0]["last_hash"]), int(rows[0]["entries"])


async def chain(connection: BaseDBAsyncClient, drafts: Sequence[Draft]) -> None:
    """Give `drafts` their place at the end of the chain. Call inside the transaction that inserts
    them, in this order, right after: the head stays locked until that transaction ends."""
    if not drafts:
        return
    last, entries = await _lock_head(connection)
    for draft in drafts:
        draft.details = _plain(draft.details)
        draft.prev_hash = last
        draft.entry_hash = last = draft.hash()
    await (
        AuditChainHead.filter(id=HEAD_ID)
        .using_db(connection)
        .update(last_hash=last, entries=entries + len(drafts))
    )


async def _append(draft: Draft, households: Sequence[int] = ()) -> AuditEntry:
    async with in_transaction() as connection:
        await chain(connection, [draft])
        entry = await AuditEntry.create(using_db=connection, **draft.values())
        if households:
            await AuditHousehold.bulk_create(
                [AuditHousehold(entry_id=entry.id, household_id=pk) for pk in households],
                using_db=connection,
            )
    return entry


# --- who and where --------------------------------------------------------------------------------


async def _partner_path(partner_id: int | None) -> str:
    if not partner_id:
        return ""
    found = await Partner.filter(id=partner_id).values_list("region__path", flat=True)
    return found[0] if found else ""


def _common_path(paths: Iterable[str]) -> str:
    paths = [path for path in paths if path]
    if not paths:
        return ""
    prefix = os.path.commonprefix(paths)
    # Cut back to a whole region ("/330300/3303" → "/330300/").
    return prefix[: prefix.rfind("/") + 1]


async def _household_paths(ids: Sequence[int]) -> list[str]:
    if not ids:
        return []
    return list(await Household.filter(id__in=list(ids)).values_list("region__path", flat=True))


async def _actor(principal: Principal | None, draft: Draft) -> None:
    if principal is None:
        return
    draft.actor_name = principal.username[:64]
    draft.actor_partner_id = principal.partner_id
    if principal.token_id is not None:
        # An API call: the token acts, not the user who once created it.
        draft.actor_token_id = principal.token_id
    else:
        draft.actor_id = principal.user_id


async def _region_of(
    principal: Principal | None, object_type: str, object_id: str, households: Sequence[int]
) -> str:
    if households:
        return _common_path(await _household_paths(households))
    if object_type == "partner" and object_id.isdigit():
        return await _partner_path(int(object_id))
    if object_type == "region":
        # A region's settings: the coordinators of that region (and those above it) find the change.
        found = await Region.filter(code=object_id).values_list("path", flat=True)
        if found:
            return found[0]
    if object_type == "volunteer" and object_id.isdigit():
        found = await Volunteer.filter(id=int(object_id)).values_list("region__path", flat=True)
        return found[0] if found else ""
    if object_type == "user" and object_id.isdigit():
        found = await User.filter(id=int(object_id)).values_list("region__path", flat=True)
        if found and found[0]:
            return found[0]
    if principal is None:
        return ""
    return principal.region_path or await _partner_path(principal.partner_id)


async def _households_of(object_type: str, object_id: str) -> list[int]:
    # The household an entry about a request or a visit concerns, so a coordinator finds it.
    if not object_id.isdigit():
        return []
    if object_type == "household":
        return [int(object_id)]
    if object_type in ("request", "service_request"):
        return list(await ServiceRequest.filter(id=int(object_id)).values_list("household_id", flat=True))
    if object_type == "visit":
        return list(await Visit.filter(id=int(object_id)).values_list("request__household_id", flat=True))
    return []


def _ids(items: Iterable[Any]) -> list[int]:
    return sorted({int(getattr(item, "id", item)) for item in items if item is not None})


# --- writing --------------------------------------------------------------------------------------


async def record(
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: object,
    details: dict[str, Any] | None = None,
    address: str = "",
    *,
    households: Iterable[Any] = (),
) -> AuditEntry:
    """A change (or any event) worth keeping: who, what, on which object, from where."""
    object_id = str(object_id)
    household_ids = _ids(households) or await _households_of(object_type, object_id)
    draft = Draft(action=action, object_type=object_type, object_id=object_id, address=address[:64])
    draft.details = dict(details or {})
    await _actor(principal, draft)
    draft.region_path = await _region_of(principal, object_type, object_id, household_ids)
    if len(household_ids) == 1:
        draft.household_id = household_ids[0]
        return await _append(draft)
    if household_ids:
        draft.details["households"] = household_ids
    return await _append(draft, household_ids)


async def viewed(
    principal: Principal | None,
    what: str,
    subject: tuple[str, object] | None = None,
    *,
    households: Iterable[Any] = (),
    visits: Iterable[Any] = (),
    requests: Iterable[Any] = (),
    notifications: Iterable[Any] = (),
    registrations: Iterable[Any] = (),
    volunteers: Iterable[Any] = (),
    address: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry | None:
    """THE way personal data is shown: one entry naming who saw the personal data of which
    households (given directly, or through the visits, requests, notifications or event registrations
    shown) or
    volunteers, on what (`what`, e.g. "visit.view"), and from where. A page that shows nobody's
    personal data (an empty list) writes nothing."""
    household_ids = set(_ids(households))
    if visit_ids := _ids(visits):
        household_ids.update(
            await Visit.filter(id__in=visit_ids).values_list("request__household_id", flat=True)
        )
    if request_ids := _ids(requests):
        household_ids.update(
            await ServiceRequest.filter(id__in=request_ids).values_list("household_id", flat=True)
        )
    if notification_ids := _ids(notifications):
        household_ids.update(
            pk
            for pk in await Notification.filter(id__in=notification_ids).values_list(
                "household_id", flat=True
            )
            if pk is not None
        )
    if registration_ids := _ids(registrations):
        household_ids.update(
            await Registration.filter(id__in=registration_ids).values_list("household_id", flat=True)
        )
    household_ids = sorted(household_ids)
    volunteer_ids = _ids(volunteers)
    if subject is None:
        if not household_ids and not volunteer_ids:
            return None
        if len(household_ids) == 1:
            subject = ("household", household_ids[0])
        elif len(volunteer_ids) == 1 and not household_ids:
            subject = ("volunteer", volunteer_ids[0])
        else:
            subject = ("list", "")
    extra = dict(details or {})
    if volunteer_ids:
        extra["volunteers"] = volunteer_ids
    return await record(principal, what, subject[0], subject[1], extra, address, households=household_ids)


async def refused(
    principal: Principal | None,
    action: str,
    path: str,
    address: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """A refusal: an access check that said no, an unknown or revoked token, a bad signature."""
    return await record(
        principal, action, "path", path[:64], {"path": path[:512], **(details or {})}, address
    )


# --- reading --------------------------------------------------------------------------------------


def visible_entries(principal: Principal) -> QuerySet[AuditEntry]:
    """The entries the principal may read (alliance/core/access.py decides)."""
    return visible(principal, Action.VIEW_AUDIT)


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # a user name, or an API token's "api:<prefix>"
    household_id: int | None = None
    action: str = ""  # an action, or its area ("visit" matches "visit.view", "visit.door_view", …)
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    page: int = 1


def filtered(principal: Principal, wanted: AuditFilter) -> QuerySet[AuditEntry]:
    query = visible_entries(principal)
    if wanted.actor:
        query = query.filter(actor_name=wanted.actor)
    if wanted.household_id is not None:
        query = query.filter(
            Q(household_id=wanted.household_id)
            | Q(id__in=Subquery(AuditHousehold.filter(household_id=wanted.household_id).values("entry_id")))
        )
    if wanted.action:
        query = query.filter(Q(action=wanted.action) | Q(action__startswith=wanted.action + "."))
    if wanted.since:
        query = query.filter(at__gte=wanted.since)
    if wanted.until:
        query = query.filter(at__lt=wanted.until)
    return query


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str  # "" for the system (a job, the command line, a signed link)
    actor_token_id: int | None
    actor_partner_id: int | None
    action: str
    object_type: str
    object_id: str
    households: list[int]
    address: str
    details: dict[str, Any]

    def csv(self) -> list[Any]:
        return [
            self.id,
            _time(self.at),
            self.actor,
            self.actor_token_id or "",
            self.actor_partner_id or "",
            self.action,
            self.object_type,
            self.object_id,
            " ".join(str(pk) for pk in self.households),
            self.address,
            json.dumps(self.details, ensure_ascii=False, sort_keys=True),
        ]


CSV_HEADER = [
    "id",
    "at_utc",
    "actor",
    "token_id",
    "partner_id",
    "action",
    "object_type",
    "object_id",
    "households",
    "address",
    "details",
]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    filters: AuditFilter


async def _rows(entries: Sequence[AuditEntry]) -> list[AuditRow]:
    linked: dict[int, list[int]] = {}
    several = [entry.id for entry in entries if entry.household_id is None]
    for start in range(0, len(several), 500):
        for entry_id, household_id in await AuditHousehold.filter(
            entry_id__in=several[start : start + 500]
        ).values_list("entry_id", "household_id"):
            linked.setdefault(entry_id, []).append(household_id)
    return [
        AuditRow(
            id=entry.id,
            at=entry.at,
            actor=entry.actor_name,
            actor_token_id=entry.actor_token_id,
            actor_partner_id=entry.actor_partner_id,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            households=[entry.household_id] if entry.household_id else sorted(linked.get(entry.id, [])),
            address=entry.address,
            details={key: value for key, value in entry.details.items() if key != "households"},
        )
        for entry in entries
    ]


async def audit_page(principal: Principal, wanted: AuditFilter, page_size: int = 50) -> AuditPage:
    """The entries the principal may read that match, newest first, a page at a time."""
    query = filtered(principal, wanted)
    total = await query.count()
    pages = max(1, -(-total // page_size))
    page = min(max(1, wanted.page), pages)
    entries = await query.order_by("-id").offset((page - 1) * page_size).limit(page_size)
    return AuditPage(
        rows=await _rows(entries),
        total=total,
        page=page,
        pages=pages,
        filters=wanted,
    )


async def export_rows(principal: Principal, wanted: AuditFilter, limit: int = 100_000) -> list[list[Any]]:
    """The matching entries for a CSV file, oldest first (at most `limit`)."""
    rows: list[list[Any]] = [CSV_HEADER]
    entries = await filtered(principal, wanted).order_by("id").limit(limit)
    rows += [row.csv() for row in await _rows(entries)]
    return rows


# The areas an action filter can name (a prefix: "visit" matches "visit.view", "visit.cancel", …),
# offered as suggestions on the audit page; any exact action works too.
ACTION_AREAS = (
    "access",
    "allocation",
    "api",
    "api_token",
    "calendar",
    "cockpit",
    "duplicates",
    "event",
    "event_hires",
    "event_session",
    "flag",
    "household",
    "households",
    "intake",
    "need_rules",
    "offering",
    "outbox",
    "oversight",
    "partner",
    "report",
    "request",
    "service_record",
    "transfer",
    "unserved",
    "visit",
    "visits",
    "volunteer",
)


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    checked: int
    legacy: int  # entries written before the chain began (no hash)
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify(batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; the first entry whose stored hashes do not fit names the break."""
    expected = GENESIS
    checked = legacy = archived = 0
    chained = False
    last_id = 0
    # Years taken off the partitioned table (alliance/core/partitions.py) end where the chain resumes.
    resume = await partitions.resume_point()
    if resume is not None:
        expected, last_id, archived = resume
        chained = True
    while True:
        entries = await AuditEntry.filter(id__gt=last_id).order_by("id").limit(batch)
        if not entries:
            break
        for entry in entries:
            last_id = entry.id
            if not entry.entry_hash and not chained:
                legacy += 1
                continue
            chained = True
            draft = Draft.of(entry)
            if draft.prev_hash != expected:
                return ChainReport(
                    checked,
                    legacy,
                    entry.id,
                    "previous hash does not match: an entry before it was removed, added or edited",
                )
            if draft.hash() != entry.entry_hash:
                return ChainReport(
                    checked, legacy, entry.id, "content does not match its hash: the entry was edited"
                )
            expected = entry.entry_hash
            checked += 1
    head = await AuditChainHead.get_or_none(id=HEAD_ID)
    if head is not None and head.last_hash != expected:
        return ChainReport(
            checked,
            legacy,
            last_id or 0,
            "the newest entries were removed: the chain head names another hash",
        )
    if head is not None and head.entries != checked + archived:
        return ChainReport(
            checked,
            legacy,
            last_id or 0,
            f"the chain head counts {head.entries} entries, found {checked}"
            + (f" and {archived} in detached years" if archived else ""),
        )
    return ChainReport(checked, legacy)

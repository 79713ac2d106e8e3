"""Possible duplicates: the same person sent under two external ids.

Intake marks a household whose ID number (or phone and address together) already belongs to an older
household under another external id: `Household.possible_duplicate_of` points at the older one. It is
imported anyway; a coordinator then merges the two (requests, flags and their history move to the
household kept) or dismisses the mark (the pair is never marked again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import CloseReason, RequestStatus
from alliance.core.crypto import blind_index, blind_indexes, phone_address_key
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import User
from alliance.core.privacy import mask_id_number, mask_phone
from alliance.core.timeutil import utc_now
from alliance.households.models import DuplicateDismissal, Flag, Household, HouseholdMerge
from alliance.households.needs import active_key
from alliance.matching.models import RequestTransition, ServiceRequest

PAGE_SIZE = 20

# (household id, ID number normalised, its blind index under the active key, phone-and-address key,
# its blind index, the household it is marked a duplicate of now); None where a household has none.
IdentityRow = tuple[int, str | None, str | None, str | None, str | None, int | None]
# (household id, ID number normalised, phone-and-address key) of a household a chunk wrote.
WrittenKeys = tuple[int, str | None, str | None]


def phone_address_index(phone: str | None, address: str) -> str | None:
    """What IntakeRecord.phone_address holds: the keyed hash of `phone_address_key`."""
    return blind_index("phone_address", phone_address_key(phone, address))


async def _households_with(
    connection: BaseDBAsyncClient, table: str, id_column: str, key_column: str, keys: list[str]
) -> list[tuple[int, str]]:
    """(household id, key) of the rows of `table` whose `key_column` is one of `keys`. PostgreSQL:
    the keys as one array, joined row by row to the column's index. `= ANY(array)` or an IN list
    of a chunk's 5,000 keys made the planner scan the whole table, in parallel, for every chunk of
    an import (78 ms a chunk at 300,000 households, against 17 ms probing the index, and both cores
    taken from the chunk being written)."""
    if not keys:
        return []
    if connection.capabilities.dialect == "postgres":
        sql = (
            f'SELECT t."{id_column}" AS "id", t."{key_column}" AS "key" FROM unnest($1::text[]) AS u("key") '
            f'JOIN "{table}" AS t ON t."{key_column}" = u."key"'
        )
        rows = await connection.execute_query_dict(sql, [keys])
    else:
        sql = (
            f'SELECT "{id_column}" AS "id", "{key_column}" AS "key" FROM "{table}" '
            f'WHERE "{key_column}" IN ({", ".join("?" * len(keys))})'
        )
        rows = await connection.execute_query_dict(sql, keys)
    return [(row["id"], row["key"]) for row in rows]


def _hash_lookup(purpose: str, values: dict[str, str | None]) -> dict[str, str]:
    """Every blind index (under each index key in the keyring) of each value -> the value. `values`:
    value -> its index under the active key, worked out already (hashed again only if None)."""
    return {
        digest: value for value, active in values.items() for digest in blind_indexes(purpose, value, active)
    }


@dataclass
class Holders:
    """The households holding each ID number (normalised) and each phone-and-address key looked for."""

    by_id_number: dict[str, set[int]]
    by_phone_address: dict[str, set[int]]


async def find_holders(connection: BaseDBAsyncClient, rows: list[IdentityRow]) -> Holders:
    """Who holds the rows' ID numbers (any household) and phones-and-addresses (intake records),
    through their blind indexes under every index key of the keyring."""
    id_hashes = _hash_lookup("id_number", {row[1]: row[2] for row in rows if row[1]})
    key_hashes = _hash_lookup("phone_address", {row[3]: row[4] for row in rows if row[3]})
    holders = Holders(
        by_id_number={value: set() for value in id_hashes.values()},
        by_phone_address={value: set() for value in key_hashes.values()},
    )
    for household_id, digest in await _households_with(
        connection, "household", "id", "id_number_index", sorted(id_hashes)
    ):
        holders.by_id_number[id_hashes[digest]].add(household_id)
    for household_id, digest in await _households_with(
        connection, "intake_record", "household_id", "phone_address", sorted(key_hashes)
    ):
        holders.by_phone_address[key_hashes[digest]].add(household_id)
    return holders


def holders_after(found: Holders, written: list[WrittenKeys]) -> Holders:
    """`found` as it stands once `written` is: each of those households then holds its row's ID
    number and phone-and-address key and has an intake record, whatever the lookup, made before
    they were written, saw of them."""
    touched = {row[0] for row in written}
    by_id_number = {value: ids - touched for value, ids in found.by_id_number.items()}
    by_phone_address = {key: ids - touched for key, ids in found.by_phone_address.items()}
    for household_id, id_key, key in written:
        if id_key and (holding := by_id_number.get(id_key)) is not None:
            holding.add(household_id)
        if key and (holding := by_phone_address.get(key)) is not None:
            holding.add(household_id)
    return Holders(by_id_number=by_id_number, by_phone_address=by_phone_address)


async def mark_possible_duplicates(
    connection: BaseDBAsyncClient, rows: list[IdentityRow], holders: Holders | None = None
) -> int:
    """Point each household at the oldest other household with its ID number, or with its phone and
    address, unless a coordinator dismissed that pair. Runs inside the import's transaction (after
    the intake records are written); returns how many marks changed. `holders`: who holds the rows'
    identities now, when the caller looked them up on another connection (`find_holders`, then
    `holders_after` for the rows this transaction wrote); otherwise they are read here.

    Both are compared through blind indexes (keyed hashes; docs/security.md): the ID number on every
    household, phone and address on the intake records, so only households that came through intake
    are found that way."""
    if holders is None:
        holders = await find_holders(connection, rows)
    return await apply_marks(connection, rows, older_holders(rows, holders))


def older_holders(rows: list[IdentityRow], holders: Holders) -> dict[int, list[int]]:
    """Per household of `rows`, the older households holding its ID number or its phone and address,
    oldest first: only the newer of a pair is marked, pointing at the older one."""
    by_id_number, by_phone_address = holders.by_id_number, holders.by_phone_address
    wanted: dict[int, list[int]] = {}
    for household_id, id_key, _id_index, key, _key_index, _marked_now in rows:
        matches: set[int] = set()
        if id_key:
            matches.update(by_id_number.get(id_key, ()))
        if key:
            matches.update(by_phone_address.get(key, ()))
        wanted[household_id] = sorted(other for other in matches if other < household_id)
    return wanted


async def apply_marks(
    connection: BaseDBAsyncClient, rows: list[IdentityRow], wanted: dict[int, list[int]]
) -> int:
    """Each household of `rows` marked as a duplicate of the oldest of its `older_holders` that a
    coordinator did not dismiss, or unmarked; returns how many marks changed."""
    dismissed: set[tuple[int, int]] = set()
    candidates = [household_id for household_id, older in wanted.items() if older]
    if candidates:
        for household_id, other_id in (
            await DuplicateDismissal.filter(Q(household_id__in=candidates) | Q(other_id__in=candidates))
            .using_db(connection)
            .values_list("household_id", "other_id")
        ):
            dismissed.add((household_id, other_id))  # type: ignore[arg-type]
            dismissed.add((other_id, household_id))  # type: ignore[arg-type]
    changes: list[tuple[int | None, int]] = []
    for household_id, _id_key, _id_index, _key, _key_index, marked_now in rows:
        older = [other for other in wanted[household_id] if (household_id, other) not in dismissed]
        mark = older[0] if older else None
        if mark != marked_now:
            changes.append((mark, household_id))
    if changes:
        params = ["$1", "$2"] if connection.capabilities.dialect == "postgres" else ["?", "?"]
        await connection.execute_many(
            f'UPDATE "household" SET "possible_duplicate_of_id" = {params[0]} WHERE "id" = {params[1]}',
            [list(change) for change in changes],
        )
    return len(changes)


# --- the coordinator's list ------------------------------------------------------------------


@dataclass
class HouseholdSummary:
    id: int
    external_id: str
    head_name: str
    id_number_masked: str
    phone_masked: str
    address: str
    region_name: str
    flags: list[str]
    requests: int


@dataclass
class DuplicatePair:
    duplicate: HouseholdSummary
    # None when the older household lies outside the viewer's area: nothing of it is shown.
    original: HouseholdSummary | None
    reasons: list[str]


@dataclass
class DuplicatePage:
    pairs: list[DuplicatePair]
    total: int
    page: int
    pages: int


async def _summaries(ids: list[int]) -> dict[int, HouseholdSummary]:
    households = await Household.filter(id__in=ids).prefetch_related("region")
    flags: dict[int, list[str]] = {}
    for household_id, code in await Flag.filter(household_id__in=ids, active=True).values_list(
        "household_id", "code"
    ):
        flags.setdefault(household_id, []).append(str(code))  # type: ignore[arg-type]
    requests: dict[int, int] = {}
    for household_id in await ServiceRequest.filter(household_id__in=ids).values_list(
        "household_id", flat=True
    ):
        requests[household_id] = requests.get(household_id, 0) + 1  # type: ignore[index]
    return {
        household.id: HouseholdSummary(
            id=household.id,
            external_id=household.external_id,
            head_name=household.head_name,
            id_number_masked=mask_id_number(household.id_number),
            phone_masked=mask_phone(household.phone),
            address=household.address,
            region_name=household.region.name,
            flags=sorted(flags.get(household.id, [])),
            requests=requests.get(household.id, 0),
        )
        for household in households
    }


async def possible_duplicates(principal: Principal, page: int = 1) -> DuplicatePage:
    """Households in the principal's area marked as possible duplicates, newest first."""
    query = visible(principal, Action.MERGE_HOUSEHOLDS).filter(possible_duplicate_of_id__isnull=False)
    total = await query.count()
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(1, page), pages)
    marked = await query.order_by("-id").offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    original_ids = [household.possible_duplicate_of_id for household in marked]  # type: ignore[attr-defined]
    in_area = set(
        await visible(principal, Action.MERGE_HOUSEHOLDS)
        .filter(id__in=original_ids)
        .values_list("id", flat=True)
    )
    summaries = await _summaries([household.id for household in marked] + list(in_area))  # type: ignore[arg-type]
    pairs = []
    for household in marked:
        original_id = household.possible_duplicate_of_id  # type: ignore[attr-defined]
        original = await Household.get(id=original_id)
        reasons = []
        if household.id_number and household.id_number == original.id_number:
            reasons.append(_("same ID number"))
        if phone_address_key(household.phone, household.address) and phone_address_key(
            household.phone, household.address
        ) == phone_address_key(original.phone, original.address):
            reasons.append(_("same phone and address"))
        pairs.append(
            DuplicatePair(
                duplicate=summaries[household.id],
                original=summaries.get(original_id) if original_id in in_area else None,
                reasons=reasons,
            )
        )
    return DuplicatePage(pairs=pairs, total=total, page=page, pages=pages)


# --- merge and dismiss -----------------------------------------------------------------------


async def _pair(principal: Principal, household_id: int) -> tuple[Household, Household]:
    require(principal, Action.MERGE_HOUSEHOLDS)
    duplicate = await get_visible(principal, Action.MERGE_HOUSEHOLDS, household_id)
    if duplicate.possible_duplicate_of_id is None:
        raise InvalidInput({"household": _("This household is not marked as a possible duplicate.")})
    original = await get_visible(principal, Action.MERGE_HOUSEHOLDS, duplicate.possible_duplicate_of_id)
    return duplicate, original


async def dismiss_duplicate(principal: Principal, household_id: int, address: str = "") -> Household:
    """The two are different households: clear the mark and remember the pair."""
    duplicate, original = await _pair(principal, household_id)
    async with in_transaction():
        await DuplicateDismissal.get_or_create(
            household_id=duplicate.id,
            other_id=original.id,
            defaults={"dismissed_by_id": principal.user_id, "at": utc_now()},
        )
        duplicate.possible_duplicate_of_id = None  # type: ignore[attr-defined]
        await duplicate.save(update_fields=["possible_duplicate_of_id"])
        await record(
            principal,
            "household.duplicate_dismissed",
            "household",
            duplicate.id,
            {"other": original.id},
            address,
        )
    return duplicate


async def merge_duplicate(principal: Principal, household_id: int, keep: str, address: str = "") -> Household:
    """Merge a marked household with the one it duplicates. `keep` is "original" (the older) or
    "duplicate". Requests (with their visits and history) and flags move to the household kept; the
    other household is removed and its external id retired (a re-sent row names the kept one)."""
    duplicate, original = await _pair(principal, household_id)
    if keep not in ("original", "duplicate"):
        raise InvalidInput({"keep": _("Choose which household to keep.")})
    kept, dropped = (original, duplicate) if keep == "original" else (duplicate, original)
    now = utc_now()
    async with in_transaction():
        kept_active = {
            str(request.need_id): request  # type: ignore[attr-defined]
            for request in await ServiceRequest.filter(household_id=kept.id, active_key__isnull=False)
        }
        for request in await ServiceRequest.filter(household_id=dropped.id).order_by("id"):
            need = str(request.need_id)  # type: ignore[attr-defined]
            if request.active_key and need in kept_active:
                other = kept_active[need]
                if request.status == RequestStatus.OPEN:
                    await _cancel_as_duplicate(request, principal, now)
                elif other.status == RequestStatus.OPEN:
                    await _cancel_as_duplicate(other, principal, now)
                    kept_active[need] = request
                else:
                    raise InvalidInput(
                        {
                            "requests": _(
                                "Both households have a {need} request in progress with a partner; "
                                "close one of them before merging."
                            ).format(need=label(need))
                        }
                    )
            request.household_id = kept.id  # type: ignore[attr-defined]
            if request.active_key:
                request.active_key = active_key(kept.id, need)
            await request.save(
                update_fields=["household_id", "active_key", "status", "close_reason", "updated_at"]
            )
        kept_flags = {str(flag.code): flag for flag in await Flag.filter(household_id=kept.id)}
        for flag in await Flag.filter(household_id=dropped.id):
            mine = kept_flags.get(str(flag.code))
            if mine is None:
                flag.household_id = kept.id  # type: ignore[attr-defined]
                await flag.save(update_fields=["household_id"])
            else:
                mine.detected_at = min(mine.detected_at, flag.detected_at)
                if flag.active and not mine.active:
                    mine.active, mine.deactivated_at = True, None
                await mine.save(update_fields=["detected_at", "active", "deactivated_at"])
        account = await User.get_or_none(household_id=dropped.id)
        if account is not None:
            if await User.exists(household_id=kept.id):
                # The kept household has its own login; the other one's account would point nowhere.
                account.household_id, account.is_active = None, False  # type: ignore[attr-defined]
            else:
                account.household_id = kept.id  # type: ignore[attr-defined]
            await account.save(update_fields=["household_id", "is_active"])
        await (
            Household.filter(possible_duplicate_of_id=dropped.id)
            .exclude(id=kept.id)
            .update(possible_duplicate_of_id=kept.id)
        )
        await HouseholdMerge.filter(kept_id=dropped.id).update(kept_id=kept.id)
        snapshot = {
            "id": dropped.id,
            "external_id": dropped.external_id,
            "head_name": dropped.head_name,
            "region": dropped.region_id,  # type: ignore[attr-defined]
            "address": dropped.address,
            "member_count": dropped.member_count,
        }
        await HouseholdMerge.create(
            external_id=dropped.external_id,
            kept_id=kept.id,
            merged_by_id=principal.user_id,
            snapshot=snapshot,
            at=now,
        )
        kept.possible_duplicate_of_id = None  # type: ignore[attr-defined]
        await kept.save(update_fields=["possible_duplicate_of_id"])
        await record(
            principal,
            "household.merged",
            "household",
            kept.id,
            {"merged": dropped.id, "merged_external_id": dropped.external_id},
            address,
        )
        await dropped.delete()
    return kept


async def _cancel_as_duplicate(request: ServiceRequest, principal: Principal, now: Any) -> None:
    previous = request.status
    request.status = RequestStatus.CANCELLED
    request.close_reason = CloseReason.DUPLICATE
    request.active_key = None
    await request.save(update_fields=["status", "close_reason", "active_key", "updated_at"])
    await RequestTransition.create(
        request_id=request.id,
        from_status=previous,
        to_status=RequestStatus.CANCELLED,
        actor_id=principal.user_id,
        reason="merge: duplicate household",
        at=now,
    )

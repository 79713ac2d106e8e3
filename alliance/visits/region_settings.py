"""Region settings: the per-region rules coordinators and administrators set, inherited down the region
tree (a region without a value of its own follows its nearest ancestor, then the built-in default).

| setting | Region column | read by | default |
|---|---|---|---|
| claim deadline (days) | `escalate_unclaimed_after_days` | `notifications.escalation` | 3 |
| stale-claim days | `schedule_claim_within_days` | `matching.unscheduled_claims` | 6 |
| transfer auto-approval (hours) | `transfer_auto_approve_hours` | `matching.transfers` | TRANSFER_AUTO_APPROVE_HOURS (36) |
| check-in radius (metres) | `checkin_radius_m` | `visits.checkins`, `visits.regular` | ALLIANCE_CHECKIN_RADIUS_M (150) |
| verification required | `verification_required` | `households.consent` | no |

The page (/admin/region-settings) and the command line (`alliance region settings`) both go through
`set_region_settings`: checked on the server, each change audited as "region.policy" with its old and
new value, which is also the history the page shows. A coordinator sets their own region and the
regions under it; an administrator any region (Action.SET_REGION_POLICY)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, visible
from alliance.core.audit import record
from alliance.core.config import default_transfer_auto_approve_hours
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.i18n import lazy_gettext as _l
from alliance.core.models import AuditEntry, Region
from alliance.households.consent import DEFAULT_VERIFICATION_REQUIRED
from alliance.matching.unscheduled_claims import DEFAULT_SCHEDULE_WITHIN_DAYS
from alliance.notifications.escalation import DEFAULT_ESCALATE_AFTER_DAYS
from alliance.visits import consent_effects
from alliance.visits.checkins import checkin_radius_m

HISTORY_ACTION = "region.policy"


@dataclass(frozen=True)
class Setting:
    key: str  # the form field and the command-line option (with dashes)
    column: str  # the Region column
    low: int | None  # None: a yes/no setting
    high: int | None
    label: Any
    hint: Any
    unit: str  # "days", "hours", "metres", "" (yes/no)

    @property
    def is_flag(self) -> bool:
        return self.low is None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "claim_deadline_days",
        "escalate_unclaimed_after_days",
        1,
        90,
        _l("Claim deadline"),
        _l("Days a matched request may stay unclaimed before the region's coordinators are told."),
        "days",
    ),
    Setting(
        "stale_claim_days",
        "schedule_claim_within_days",
        1,
        90,
        _l("Stale claim"),
        _l(
            "Days a claim may stay without a visit before its holder is warned; a day later the "
            "request goes back to the pool."
        ),
        "days",
    ),
    Setting(
        "transfer_auto_approve_hours",
        "transfer_auto_approve_hours",
        1,
        720,
        _l("Transfer auto-approval"),
        _l(
            "Hours the holder has to answer a transfer request before it is approved automatically "
            "(for transfers asked after the change)."
        ),
        "hours",
    ),
    Setting(
        "checkin_radius_m",
        "checkin_radius_m",
        20,
        5000,
        _l("Check-in radius"),
        _l(
            "Metres from the household within which a GPS check-in (at the door or on a regular "
            "visit) is plain; farther is accepted and flagged for review."
        ),
        "metres",
    ),
    Setting(
        "verification_required",
        "verification_required",
        None,
        None,
        _l("Verification required before matching"),
        _l("When yes, partners see a household only after a community worker verified it."),
        "",
    ),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}
BY_COLUMN = {setting.column: setting for setting in SETTINGS}


def defaults() -> dict[str, int | bool]:
    """The built-in value of each setting (two of them come from the environment)."""
    return {
        "claim_deadline_days": DEFAULT_ESCALATE_AFTER_DAYS,
        "stale_claim_days": DEFAULT_SCHEDULE_WITHIN_DAYS,
        "transfer_auto_approve_hours": default_transfer_auto_approve_hours(),
        "checkin_radius_m": round(checkin_radius_m()),
        "verification_required": DEFAULT_VERIFICATION_REQUIRED,
    }


def shown(setting: Setting, value: int | bool | None) -> str:
    """A value as the page and the history show it, in the reader's language."""
    if value is None:
        return _("inherit")
    if setting.is_flag:
        return _("yes") if value else _("no")
    if setting.unit == "days":
        return _("%(count)s days") % {"count": value}
    if setting.unit == "hours":
        return _("%(count)s hours") % {"count": value}
    return _("%(count)s m") % {"count": value}


@dataclass
class InForce:
    """One setting of a region: its own value, the value in force and where that comes from."""

    setting: Setting
    own: int | bool | None
    value: int | bool
    source: str  # "own", "inherited", "default"
    source_region: Region | None = None

    @property
    def own_text(self) -> str:
        return shown(self.setting, self.own)

    @property
    def value_text(self) -> str:
        return shown(self.setting, self.value)

    @property
    def source_text(self) -> str:
        if self.source == "own":
            return _("own value")
        if self.source == "inherited" and self.source_region is not None:
            return _("inherited from %(region)s") % {"region": self.source_region.name}
        return _("default")


def _in_force(region: Region, chain: list[Region], defaults_now: Mapping[str, int | bool]) -> list[InForce]:
    """`chain`: the region's ancestors and itself, from the top."""
    found = []
    for setting in SETTINGS:
        own = getattr(region, setting.column)
        holder = next((link for link in reversed(chain) if getattr(link, setting.column) is not None), None)
        if holder is None:
            found.append(InForce(setting, own, defaults_now[setting.key], "default"))
            continue
        value = getattr(holder, setting.column)
        value = bool(value) if setting.is_flag else int(value)
        source = "own" if holder.code == region.code else "inherited"
        found.append(InForce(setting, own, value, source, holder))
    return found


async def _chains(regions: list[Region]) -> dict[str, list[Region]]:
    codes = {code for region in regions for code in region.path.strip("/").split("/") if code}
    by_code = {region.code: region for region in await Region.filter(code__in=list(codes))}
    return {
        region.code: [by_code[code] for code in region.path.strip("/").split("/") if code in by_code]
        for region in regions
    }


@dataclass
class HistoryRow:
    at: datetime
    actor: str
    region_code: str
    region_name: str
    setting: str
    old: str
    new: str


@dataclass
class RegionRow:
    region: Region
    settings: list[InForce]


@dataclass
class RegionSettingsPage:
    region: Region
    settings: list[InForce]
    history: list[HistoryRow] = field(default_factory=list)


async def _history(codes: list[str], names: Mapping[str, str], limit: int) -> list[HistoryRow]:
    entries = (
        await AuditEntry.filter(action=HISTORY_ACTION, object_type="region", object_id__in=codes)
        .order_by("-id")
        .limit(limit)
    )
    rows = []
    for entry in entries:
        details = entry.details or {}
        setting = BY_COLUMN.get(str(details.get("setting", "")))
        if setting is None:
            continue
        rows.append(
            HistoryRow(
                at=entry.at,
                actor=entry.actor_name or "—",
                region_code=entry.object_id,
                region_name=names.get(entry.object_id, entry.object_id),
                setting=str(setting.label),
                old=shown(setting, details.get("from")),
                new=shown(setting, details.get("to")),
            )
        )
    return rows


async def region_overview(principal: Principal, limit: int = 500) -> tuple[list[RegionRow], list[HistoryRow]]:
    """Every region the principal may set (a coordinator: their region and those under it), each
    with its settings in force, and the latest changes among them."""
    regions = await visible(principal, Action.SET_REGION_POLICY).order_by("path").limit(limit)
    chains = await _chains(regions)
    defaults_now = defaults()
    rows = [RegionRow(region, _in_force(region, chains[region.code], defaults_now)) for region in regions]
    names = {region.code: region.name for region in regions}
    return rows, await _history(list(names), names, 30)


async def region_settings(principal: Principal, region_code: str) -> RegionSettingsPage:
    """One region's settings in force, with where each comes from, and its history of changes.
    Out of the principal's scope: NotFound."""
    region = await get_visible(principal, Action.SET_REGION_POLICY, region_code)
    chain = (await _chains([region]))[region.code]
    page = RegionSettingsPage(region, _in_force(region, chain, defaults()))
    page.history = await _history([region.code], {region.code: region.name}, 100)
    return page


def parse_settings(submitted: Mapping[str, object]) -> dict[str, int | bool | None]:
    """The settings named in `submitted` (a form or the command line's options), checked: an empty
    value inherits. Every error at once, as InvalidInput keyed by the setting."""
    values: dict[str, int | bool | None] = {}
    errors: dict[str, str] = {}
    for key, raw in submitted.items():
        setting = BY_KEY.get(key)
        if setting is None:
            continue
        text = "" if raw is None else str(raw).strip()
        if text in ("", "inherit"):
            values[key] = None
        elif setting.is_flag:
            flag = {"yes": True, "no": False, "true": True, "false": False}.get(text.lower())
            if flag is None:
                errors[key] = _("Choose yes, no, or inherit.")
            else:
                values[key] = flag
        else:
            try:
                number = int(text)
            except ValueError:
                number = None
            if number is None or not setting.low <= number <= setting.high:  # type: ignore[operator]
                errors[key] = _(
                    "%(setting)s: enter a whole number from %(low)s to %(high)s, or leave it empty to "
                    "inherit."
                ) % {"setting": setting.label, "low": setting.low, "high": setting.high}
            else:
                values[key] = number
    if errors:
        raise InvalidInput(errors)
    return values


@dataclass
class SettingsChange:
    region: Region
    changed: dict[str, tuple[int | bool | None, int | bool | None]] = field(default_factory=dict)
    # Open requests that matching may offer now (verification no longer required): match them again.
    offered_request_ids: list[int] = field(default_factory=list)


async def set_region_settings(
    principal: Principal, region_code: str, submitted: Mapping[str, object], address: str = ""
) -> SettingsChange:
    """Set the settings named in `submitted` on one region (an empty value: inherit), all checked
    before any is written. Each setting that changes is audited with its old and new value; a change
    of "verification required" re-evaluates the subtree's households for matching at once."""
    region = await get_visible(principal, Action.SET_REGION_POLICY, region_code)
    wanted = parse_settings(submitted)
    change = SettingsChange(region)
    async with in_transaction():
        current = await Region.select_for_update().get(code=region.code)
        numbers = {}
        for key, value in wanted.items():
            setting = BY_KEY[key]
            if setting.is_flag:
                continue
            previous = getattr(current, setting.column)
            if previous == value:
                continue
            numbers[setting.column] = value
            change.changed[key] = (previous, value)
            await record(
                principal,
                HISTORY_ACTION,
                "region",
                region.code,
                {"setting": setting.column, "from": previous, "to": value},
                address,
            )
        if numbers:
            await Region.filter(code=region.code).update(**numbers)
    if "verification_required" in wanted and wanted["verification_required"] != region.verification_required:
        previous = region.verification_required
        region, offered = await consent_effects.set_verification_required(
            principal,
            region.code,
            wanted["verification_required"],
            address,  # type: ignore[arg-type]
        )
        change.changed["verification_required"] = (previous, region.verification_required)
        change.offered_request_ids = offered
    await region.refresh_from_db()
    change.region = region
    return change

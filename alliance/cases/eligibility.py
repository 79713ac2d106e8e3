"""Eligibility without paper proof: a partner asks whether a person qualifies for one of its
offerings and learns yes or no, which condition, and until when, nothing else (no name, no address,
no other flag).

The person is found by the ID number of the household's head, through its blind index (the number is
stored encrypted, alliance/core/crypto.py), or by the household's entitlement QR, a signed token valid
for ten minutes that holds the household's number and card serial only. A check is answered only when
the household recorded the `eligibility_check` consent scope (not expired); consent "as sent by the
assistance system" does not cover it. An ID number nobody holds answers exactly like a household
without that consent (`no_consent`), so the answer tells a partner nothing about who is in the system.

Which conditions qualify: the offering's own eligibility flags when it lists any, else the table
`NEED_CONDITIONS` for its need (docs/partner-api.md). The condition named is the first that applies in
`CONDITION_ORDER`. "Until when" is the earliest of: the condition's flag expiry (a flag counts for
`FLAG_VALIDITY` after the assistance system last dated it), the consent's expiry, and, where the region
requires verification, the verification's (`VERIFICATION_VALIDITY` after it).

Each check is limited per partner (a fixed window in the database, shared by every process:
`PER_MINUTE` and `PER_DAY`), audited, and kept as an `EligibilityCheck` the household sees on its page
and its worker on the case page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from alliance.cases.models import EligibilityCheck
from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import (
    ConsentScope,
    ConsentStatus,
    EligibilityChannel,
    EligibilityResult,
    FlagCode,
    NeedCode,
)
from alliance.core.crypto import id_number_index
from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.login_limits import admit_submission
from alliance.core.timeutil import aware, utc_now
from alliance.households.consent import verification_required
from alliance.households.intake_format import id_number_error
from alliance.households.models import Flag, Household
from alliance.partners.models import Offering
from alliance.visits.cards import qr_svg

F = FlagCode
# Which of a household's flags qualify it for an offering of each need, when the offering lists no
# eligibility flags of its own (docs/partner-api.md has this table).
NEED_CONDITIONS: dict[NeedCode, tuple[FlagCode, ...]] = {
    NeedCode.TELECOM_DISCOUNT: (F.SUBSISTENCE_ALLOWANCE, F.LOW_INCOME, F.SPECIAL_HARDSHIP, F.DISABILITY),
    NeedCode.HOME_CARE: (F.SPECIAL_HARDSHIP, F.SUBSISTENCE_ALLOWANCE, F.DISABILITY, F.ELDERLY_ALONE),
    NeedCode.HOME_REPAIR: (F.SPECIAL_HARDSHIP, F.SUBSISTENCE_ALLOWANCE, F.DISABILITY, F.DISASTER),
    NeedCode.HEALTH_SUPPORT: (F.SPECIAL_HARDSHIP, F.SUBSISTENCE_ALLOWANCE, F.LOW_INCOME, F.MEDICAL_EXPENSE),
    NeedCode.VOCATIONAL_TRAINING: (F.SUBSISTENCE_ALLOWANCE, F.LOW_INCOME, F.DISABILITY, F.UNEMPLOYED),
    NeedCode.JOB_PLACEMENT: (
        F.SUBSISTENCE_ALLOWANCE,
        F.LOW_INCOME,
        F.UNEMPLOYED,
        F.INCOME_DROP,
        F.BREADWINNER_DECEASED,
    ),
    NeedCode.EDUCATION_SUPPORT: (F.SPECIAL_HARDSHIP, F.SUBSISTENCE_ALLOWANCE, F.LOW_INCOME, F.CHILD_AT_RISK),
    NeedCode.PSYCHOLOGICAL_SUPPORT: (F.BREADWINNER_DECEASED, F.CHILD_AT_RISK, F.DISASTER),
    NeedCode.LEGAL_AID: (F.SPECIAL_HARDSHIP, F.SUBSISTENCE_ALLOWANCE, F.LOW_INCOME, F.DISABILITY),
    NeedCode.BENEFITS_HELP: (
        F.SPECIAL_HARDSHIP,
        F.SUBSISTENCE_ALLOWANCE,
        F.LOW_INCOME,
        F.MEDICAL_EXPENSE,
        F.INCOME_DROP,
        F.BREADWINNER_DECEASED,
        F.DISASTER,
    ),
}
# When several conditions apply, the one named: the statuses the civil-affairs bureau grants first
# (they are what a counter asks for), then the others.
CONDITION_ORDER: tuple[FlagCode, ...] = (
    F.SPECIAL_HARDSHIP,
    F.SUBSISTENCE_ALLOWANCE,
    F.LOW_INCOME,
    F.DISABILITY,
    F.ELDERLY_ALONE,
    F.MEDICAL_EXPENSE,
    F.BREADWINNER_DECEASED,
    F.CHILD_AT_RISK,
    F.DISASTER,
    F.UNEMPLOYED,
    F.INCOME_DROP,
)
# Dibao, low-income and tekun status are reviewed every year: a flag the assistance system has not
# dated again within a year no longer proves anything.
FLAG_VALIDITY = timedelta(days=365)
VERIFICATION_VALIDITY = timedelta(days=365)
PER_MINUTE = 60
PER_DAY = 1000
QR_LIFETIME = timedelta(minutes=10)
QR_SALT = "alliance.entitlement"
QR_PREFIX = "ALE1"
# The path a scanned QR opens (the clerk's phone camera); the page reads `token` from it.
SCAN_PATH = "/partner/eligibility/scan"


class EligibilityLimited(AllianceError):
    """The partner used up its checks for this minute or day."""

    def __init__(self, retry_after_seconds: int, limit: int, window: str) -> None:
        super().__init__("eligibility rate limited")
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit
        self.window = window

    @property
    def message(self) -> str:
        if self.window == "day":
            return _(
                "Your organisation has made {limit} eligibility checks today. Try again tomorrow."
            ).format(limit=self.limit)
        return _("At most {limit} eligibility checks a minute. Try again in {seconds} s.").format(
            limit=self.limit, seconds=self.retry_after_seconds
        )


class QrProblem(StrEnum):
    FORGED = "forged"
    EXPIRED = "expired"
    REVOKED = "revoked"


class EntitlementRefused(AllianceError):
    """The entitlement QR is not one, is older than ten minutes, or its card was replaced."""

    def __init__(self, problem: QrProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem

    @property
    def message(self) -> str:
        return {
            QrProblem.FORGED: _("This is not an Alliance entitlement QR."),
            QrProblem.EXPIRED: _(
                "This entitlement QR has expired (it is valid for 10 minutes). Ask the person to show a new one."
            ),
            QrProblem.REVOKED: _("This entitlement QR belongs to a replaced card. Ask for a new one."),
        }[self.problem]


@dataclass(frozen=True)
class EligibilityAnswer:
    """All a partner learns."""

    check_id: int
    offering_id: int
    result: EligibilityResult
    condition: str | None
    valid_until: datetime | None
    checked_at: datetime

    @property
    def eligible(self) -> bool:
        return self.result == EligibilityResult.ELIGIBLE


def qualifying_conditions(offering: Offering) -> tuple[FlagCode, ...]:
    """The flags that qualify a household for this offering, in CONDITION_ORDER."""
    listed = {FlagCode(code) for code in offering.eligibility_flags or () if code in FlagCode.__members__}
    wanted = listed or set(NEED_CONDITIONS.get(NeedCode(offering.need_id), ()))  # type: ignore[attr-defined]
    return tuple(code for code in CONDITION_ORDER if code in wanted)


def consents_to_checks(household: Household, now: datetime | None = None) -> bool:
    """The household recorded the eligibility-check scope, and it has not expired."""
    if household.consent_status != ConsentStatus.GIVEN:
        return False
    if ConsentScope.ELIGIBILITY_CHECK not in (household.consent_scope or []):
        return False
    expires = aware(household.consent_expires_at)
    return expires is None or expires > (now or utc_now())


async def _verification_until(household: Household) -> tuple[bool, datetime | None]:
    """(verification allows the answer, until when) under the region's verification policy."""
    await household.fetch_related("region")
    if not (await verification_required([household.region.path]))[household.region.path]:
        return True, None
    verified_at = aware(household.verified_at)
    if not household.verified or verified_at is None:
        return False, None
    return True, verified_at + VERIFICATION_VALIDITY


async def _evaluate(
    household: Household | None, offering: Offering, now: datetime
) -> tuple[EligibilityResult, str | None, datetime | None]:
    if household is None or not consents_to_checks(household, now):
        return EligibilityResult.NO_CONSENT, None, None
    verified, verification_until = await _verification_until(household)
    if not verified or (verification_until is not None and verification_until <= now):
        return EligibilityResult.NOT_ELIGIBLE, None, None
    flags = {
        flag.code: aware(flag.detected_at) + FLAG_VALIDITY
        for flag in await Flag.filter(household_id=household.id, active=True)
    }
    for code in qualifying_conditions(offering):
        flag_until = flags.get(code)
        if flag_until is None or flag_until <= now:
            continue
        limits = [flag_until, aware(household.consent_expires_at), verification_until]
        return EligibilityResult.ELIGIBLE, str(code), min(limit for limit in limits if limit is not None)
    return EligibilityResult.NOT_ELIGIBLE, None, None


async def _admit(partner_id: int) -> None:
    """Count one check against the partner's minute and day (minute first: a check refused for the
    minute does not spend the day)."""
    key = f"partner:{partner_id}"
    minute = await admit_submission("eligibility-minute", key, PER_MINUTE, timedelta(minutes=1))
    if not minute.admitted:
        raise EligibilityLimited(minute.retry_after_seconds, PER_MINUTE, "minute")
    day = await admit_submission("eligibility-day", key, PER_DAY, timedelta(days=1))
    if not day.admitted:
        raise EligibilityLimited(day.retry_after_seconds, PER_DAY, "day")


async def _offering(principal: Principal, offering_id: int | str | None) -> Offering:
    require(principal, Action.CHECK_ELIGIBILITY)
    try:
        wanted = int(offering_id or 0)
    except (TypeError, ValueError):
        wanted = 0
    if not 1 <= wanted <= 2_147_483_647:
        raise InvalidInput({"offering_id": _("Choose one of your organisation's offerings.")})
    return await get_visible(principal, Action.CHECK_ELIGIBILITY, wanted)


async def _answer(
    principal: Principal,
    offering: Offering,
    household: Household | None,
    channel: EligibilityChannel,
    address: str,
) -> EligibilityAnswer:
    await _admit(principal.partner_id or 0)
    now = utc_now()
    result, condition, until = await _evaluate(household, offering, now)
    household_id = household.id if household is not None else None
    check = await EligibilityCheck.create(
        partner_id=principal.partner_id,
        offering_id=offering.id,
        household_id=household_id,
        checked_by_id=principal.user_id if principal.token_id is None else None,
        token_id=principal.token_id,
        channel=channel,
        result=result,
        condition=condition or "",
        valid_until=until,
        at=now,
    )
    await record(
        principal,
        "eligibility.check",
        "eligibility_check",
        check.id,
        {
            "offering_id": offering.id,
            "channel": str(channel),
            "result": str(result),
            "condition": condition,
            "found": household_id is not None,
        },
        address,
        households=[household_id] if household_id else [],
    )
    return EligibilityAnswer(check.id, offering.id, result, condition, until, now)


def normalise_id_number(typed: str) -> str:
    return "".join(typed.split()).upper()


async def check_by_id_number(
    principal: Principal,
    offering_id: int | str | None,
    id_number: str,
    channel: EligibilityChannel = EligibilityChannel.PAGE,
    address: str = "",
) -> EligibilityAnswer:
    """Whether the holder of this ID number qualifies for the partner's offering. Raises InvalidInput
    (a malformed number or offering), NotFound (not the partner's active offering), PermissionDenied
    (not approved partner staff) or EligibilityLimited."""
    offering = await _offering(principal, offering_id)
    number = normalise_id_number(id_number)
    if error := id_number_error(number):
        raise InvalidInput({"id_number": error})
    holders = await Household.filter(id_number_index=id_number_index(number)).order_by("id")
    return await _answer(principal, offering, await _holder(holders, offering), channel, address)


async def _holder(holders: list[Household], offering: Offering) -> Household | None:
    # Duplicates share a number until merged: answer for the one that qualifies, else one that consents.
    if len(holders) > 1:
        now = utc_now()
        for candidate in holders:
            if (await _evaluate(candidate, offering, now))[0] == EligibilityResult.ELIGIBLE:
                return candidate
    return next((h for h in holders if consents_to_checks(h)), holders[0] if holders else None)


# --- the entitlement QR ------------------------------------------------------------------------------


def entitlement_token(secret_key: str, household_id: int, card_serial: int) -> str:
    """ "ALE1.<household>.<card serial>" signed with the time: no name, no ID number."""
    return (
        TimestampSigner(secret_key, salt=QR_SALT).sign(f"{QR_PREFIX}.{household_id}.{card_serial}").decode()
    )


def token_from_scan(scanned: str) -> str:
    """The token from what the clerk scanned or pasted: the QR's address or the bare token."""
    scanned = scanned.strip()
    if "token=" in scanned:
        found = parse_qs(urlsplit(scanned).query).get("token")
        if found:
            return found[0].strip()
    return scanned


def read_entitlement(secret_key: str, token: str, now: datetime | None = None) -> tuple[int, int]:
    """(household id, card serial) of a genuine QR younger than QR_LIFETIME; EntitlementRefused else."""
    signer = TimestampSigner(secret_key, salt=QR_SALT)
    try:
        payload = signer.unsign(token, max_age=int(QR_LIFETIME.total_seconds())).decode()
    except SignatureExpired:
        raise EntitlementRefused(QrProblem.EXPIRED) from None
    except BadSignature:
        raise EntitlementRefused(QrProblem.FORGED) from None
    prefix, _sep, rest = payload.partition(".")
    household_text, _sep, serial_text = rest.partition(".")
    if prefix != QR_PREFIX or not household_text.isdigit() or not serial_text.isdigit():
        raise EntitlementRefused(QrProblem.FORGED)
    return int(household_text), int(serial_text)


async def check_by_entitlement(
    principal: Principal, offering_id: int | str | None, scanned: str, secret_key: str, address: str = ""
) -> EligibilityAnswer:
    """The counter clerk's check of a shown entitlement QR, answered and recorded like one by ID."""
    offering = await _offering(principal, offering_id)
    try:
        household_id, serial = read_entitlement(secret_key, token_from_scan(scanned))
        household = await Household.get_or_none(id=household_id)
        if household is None or household.card_serial != serial:
            raise EntitlementRefused(QrProblem.REVOKED)
    except EntitlementRefused as refused:
        await record(
            principal,
            "eligibility.qr_refused",
            "offering",
            offering.id,
            {"problem": str(refused.problem)},
            address,
        )
        raise
    return await _answer(principal, offering, household, EligibilityChannel.QR, address)


@dataclass(frozen=True)
class EntitlementQr:
    household: Household
    token: str
    svg: str
    scan_url: str
    expires_at: datetime
    consented: bool


async def entitlement_qr(
    principal: Principal, household_id: int, secret_key: str, base_url: str, action: Action
) -> EntitlementQr:
    """A fresh QR for the household (its own account: VIEW_OWN_HOUSEHOLD; its worker: CASEWORK)."""
    household = await get_visible(principal, action, household_id)
    token = entitlement_token(secret_key, household.id, household.card_serial)
    scan_url = f"{base_url.rstrip('/')}{SCAN_PATH}?token={token}"
    return EntitlementQr(
        household=household,
        token=token,
        svg=qr_svg(scan_url, scale=4),
        scan_url=scan_url,
        expires_at=utc_now() + QR_LIFETIME,
        consented=consents_to_checks(household),
    )


# --- what the household sees ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRow:
    at: datetime
    partner: str
    offering: str
    channel: str
    result: str
    condition: str
    who: str


async def checks_of_household(household_id: int, limit: int = 50) -> list[CheckRow]:
    """Who checked the household's eligibility and when, newest first (the caller has shown the
    household may be seen: its own page or its case)."""
    rows = (
        await EligibilityCheck.filter(household_id=household_id)
        .order_by("-at", "-id")
        .limit(limit)
        .prefetch_related("partner", "offering", "checked_by")
    )
    return [
        CheckRow(
            at=row.at,
            partner=row.partner.name,
            offering=row.offering.title if row.offering else "",
            channel=str(row.channel),
            result=str(row.result),
            condition=row.condition,
            who=row.checked_by.display_name if row.checked_by else "",
        )
        for row in rows
    ]


async def offerings_for_checks(principal: Principal) -> list[Offering]:
    """The partner's active offerings, for the check forms."""
    require(principal, Action.CHECK_ELIGIBILITY)
    return await Offering.filter(partner_id=principal.partner_id or 0, active=True).order_by("title")

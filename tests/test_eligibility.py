"""Eligibility without paper proof: a partner checks by ID number (API or page) or by the household's
entitlement QR, and learns yes/no, the condition and until when, nothing else; only with the
household's eligibility-check consent; an unknown number answers like no consent; every check is
limited per partner, audited and listed for the household."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from html import unescape

import pytest
from itsdangerous import TimestampSigner
from stdnum.cn import ric

from alliance.cases import eligibility
from alliance.cases.models import EligibilityCheck
from alliance.core.access import principal_for
from alliance.core.codes import PartnerStatus
from alliance.core.models import AuditEntry
from alliance.core.timeutil import to_local, utc_now
from alliance.households.consent import record_consent
from alliance.households.models import Flag, Household
from alliance.partners.models import Offering, Partner
from alliance.partners.tokens import create_token_for
from tests.conftest import TEST_SECRET
from tests.factories import build_two_sides, login, session_csrf


def _id_number(serial: str) -> str:
    first = f"33030219600101{serial}"
    return first + ric.calc_check_digit(first + "0")


KNOWN = _id_number("123")
UNKNOWN = _id_number("987")
PII = ("李明", "13900001111", "鹿城区幸福路8号", KNOWN)


async def _world(consent: bool = True, flags: tuple[str, ...] = ("SUBSISTENCE_ALLOWANCE",)):
    left, right, _admin = await build_two_sides()
    household = await Household.create(
        external_id="EXT-EL",
        head_name="李明",
        id_number=KNOWN,
        phone="13900001111",
        address="鹿城区幸福路8号",
        region_id=left.community,
    )
    for code in flags:
        await Flag.create(household=household, code=code, detected_at=utc_now() - timedelta(days=30))
    if consent:
        worker = await principal_for(left.users["community_worker"])
        expires = (to_local(utc_now()) + timedelta(days=90)).date().isoformat()
        await record_consent(
            worker,
            household.id,
            scope=["share", "eligibility_check"],
            method="signed_paper",
            expires_on=expires,
        )
        household = await Household.get(id=household.id)
    offering = await Offering.create(partner=left.partner, need_id="TELECOM_DISCOUNT", title="宽带优惠")
    return left, right, household, offering


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _api(client, secret: str, id_number: str, offering_id: int):
    return await client.post(
        "/api/v1/partner/eligibility",
        json={"id_number": id_number, "offering_id": offering_id},
        headers=_bearer(secret),
    )


async def test_consenting_household_gets_yes_the_condition_and_until_when_nothing_else(client):
    left, _right, household, offering = await _world(flags=("SUBSISTENCE_ALLOWANCE", "DISABILITY"))
    secret = (await create_token_for(left.partner.name)).secret
    answer = await _api(client, secret, KNOWN, offering.id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "eligible",
        "result",
        "condition",
        "valid_until",
        "offering_id",
        "checked_at",
        "check_id",
    }
    # Subsistence allowance ranks before disability; the consent (90 days) ends before the flag (335).
    assert (body["eligible"], body["result"], body["condition"]) == (
        True,
        "eligible",
        "SUBSISTENCE_ALLOWANCE",
    )
    assert datetime.fromisoformat(body["valid_until"]) == household.consent_expires_at
    assert not any(marker in answer.text for marker in PII)
    check = await EligibilityCheck.get(id=body["check_id"])
    assert (check.household_id, check.partner_id, check.channel, check.token_id) == (
        household.id,
        left.partner.id,
        "api",
        check.token_id,
    )
    entry = await AuditEntry.get(action="eligibility.check", object_id=str(check.id))
    assert entry.household_id == household.id and entry.details["result"] == "eligible"
    assert KNOWN not in str(entry.details)
    # A flag that no longer qualifies (not re-dated for a year) answers no; so does an unrelated need.
    await Flag.filter(household_id=household.id).update(detected_at=utc_now() - timedelta(days=400))
    stale = await _api(client, secret, KNOWN, offering.id)
    assert (stale.json()["result"], stale.json()["condition"], stale.json()["valid_until"]) == (
        "not_eligible",
        None,
        None,
    )
    # The offering's own eligibility flags win over the need's table.
    await Flag.filter(household_id=household.id).update(detected_at=utc_now())
    await Offering.filter(id=offering.id).update(eligibility_flags=["ELDERLY_ALONE"])
    assert (await _api(client, secret, KNOWN, offering.id)).json()["result"] == "not_eligible"


async def test_no_consent_and_an_unknown_number_answer_alike_and_reveal_nothing(client):
    left, _right, household, offering = await _world(consent=False)
    secret = (await create_token_for(left.partner.name)).secret
    # Consent "as sent by the assistance system" does not cover checks.
    assert household.consent_status == "system"
    known = await _api(client, secret, KNOWN, offering.id)
    unknown = await _api(client, secret, UNKNOWN, offering.id)
    assert known.status_code == unknown.status_code == 200
    strip = {"check_id", "checked_at"}
    same = {key: value for key, value in known.json().items() if key not in strip}
    assert same == {key: value for key, value in unknown.json().items() if key not in strip}
    assert same == {
        "eligible": False,
        "result": "no_consent",
        "condition": None,
        "valid_until": None,
        "offering_id": offering.id,
    }
    # The household still sees the attempt; the unknown number is kept nowhere.
    rows = await EligibilityCheck.all().order_by("id")
    assert [row.household_id for row in rows] == [household.id, None]
    entries = await AuditEntry.filter(action="eligibility.check")
    assert len(entries) == 2 and not any(UNKNOWN in str(entry.details) for entry in entries)
    # A malformed number, or another partner's offering, is refused as such.
    bad = await _api(client, secret, "330302196001011230", offering.id)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_number"
    foreign = await Offering.create(partner=_right.partner, need_id="TELECOM_DISCOUNT", title="别家")
    other = await _api(client, secret, KNOWN, foreign.id)
    assert other.status_code == 404 and other.json()["code"] == "offering_not_found"


@pytest.mark.parametrize("status", [PartnerStatus.PENDING, PartnerStatus.SUSPENDED, PartnerStatus.CLOSED])
async def test_a_partner_not_approved_is_refused_on_the_api_and_the_page(client, status):
    left, _right, _household, offering = await _world()
    secret = (await create_token_for(left.partner.name)).secret
    await Partner.filter(id=left.partner.id).update(status=status)
    refused = await _api(client, secret, KNOWN, offering.id)
    assert refused.status_code == 403 and refused.json()["code"] == f"organisation_{status}"
    assert await AuditEntry.filter(
        action="access.forbidden", object_id="/api/v1/partner/eligibility"
    ).exists()
    await login(client, left.users["dispatcher"].username)
    page = await client.post(
        "/partner/eligibility",
        data={"id_number": KNOWN, "offering_id": offering.id},
        headers={"X-CSRF-Token": session_csrf(client)},
    )
    assert page.status_code == 403
    assert await EligibilityCheck.all().count() == 0


async def test_the_partner_limit_answers_429_with_retry_after(client, monkeypatch):
    left, _right, _household, offering = await _world()
    monkeypatch.setattr(eligibility, "PER_MINUTE", 2)
    secret = (await create_token_for(left.partner.name)).secret
    for _ in range(2):
        assert (await _api(client, secret, KNOWN, offering.id)).status_code == 200
    limited = await _api(client, secret, KNOWN, offering.id)
    assert limited.status_code == 429 and limited.json()["code"] == "eligibility_rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["retry_after"] == int(limited.headers["Retry-After"])
    # The limit is the partner's, whatever the channel: its staff page is limited too.
    await login(client, left.users["dispatcher"].username)
    page = await client.post(
        "/partner/eligibility",
        data={"id_number": KNOWN, "offering_id": offering.id},
        headers={"X-CSRF-Token": session_csrf(client)},
    )
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert await EligibilityCheck.all().count() == 2
    # The day's window holds too.
    monkeypatch.setattr(eligibility, "PER_MINUTE", 100)
    monkeypatch.setattr(eligibility, "PER_DAY", 3)
    assert (await _api(client, secret, KNOWN, offering.id)).status_code == 200
    day = await _api(client, secret, KNOWN, offering.id)
    assert day.status_code == 429 and int(day.headers["Retry-After"]) > 60


async def test_staff_page_answers_and_the_household_and_its_worker_see_who_checked(client):
    left, _right, household, offering = await _world()
    await login(client, left.users["dispatcher"].username)
    form = await client.get("/partner/eligibility")
    assert form.status_code == 200 and "宽带优惠" in form.text
    answer = await client.post(
        "/partner/eligibility",
        data={"id_number": KNOWN.lower()[:-1] + KNOWN[-1], "offering_id": offering.id},
        headers={"X-CSRF-Token": session_csrf(client)},
    )
    assert answer.status_code == 200
    assert "eligible" in answer.text.lower() and not any(marker in answer.text for marker in PII[:3])
    # The household's own account links its user to the household of the world.
    from alliance.core.models import User

    await User.filter(id=left.users["household"].id).update(household_id=household.id)
    await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    await login(client, left.users["household"].username)
    own = await client.get("/my-household")
    assert own.status_code == 200
    section = own.text[own.text.index('id="eligibility-checks"') :]
    assert left.partner.name in section and "宽带优惠" in section
    await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    await login(client, left.users["community_worker"].username)
    case = await client.get(f"/households/{household.id}/case")
    assert (
        case.status_code == 200
        and left.partner.name in case.text[case.text.index('id="eligibility-checks"') :]
    )


async def test_entitlement_qr_answers_at_the_counter_and_expires(client):
    left, _right, household, offering = await _world()
    from alliance.core.models import User

    await User.filter(id=left.users["household"].id).update(household_id=household.id)
    await login(client, left.users["household"].username)
    page = await client.get("/my-household/entitlement")
    assert page.status_code == 200 and "<svg" in page.text
    # The QR holds no personal data: the household's number and card serial, signed with the time.
    token = eligibility.entitlement_token(TEST_SECRET, household.id, household.card_serial)
    payload = token.split(".")
    assert payload[:3] == ["ALE1", str(household.id), str(household.card_serial)]
    await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    await login(client, left.users["dispatcher"].username)
    prefilled = await client.get(f"{eligibility.SCAN_PATH}?token={token}")
    assert prefilled.status_code == 200 and token in unescape(prefilled.text)

    async def scan(value: str):
        return await client.post(
            eligibility.SCAN_PATH,
            data={"token": value, "offering_id": offering.id},
            headers={"X-CSRF-Token": session_csrf(client)},
        )

    good = await scan(f"http://testserver{eligibility.SCAN_PATH}?token={token}")
    assert good.status_code == 200, good.text
    check = await EligibilityCheck.get(channel="entitlement_qr")
    assert (check.household_id, check.result, check.condition) == (
        household.id,
        "eligible",
        "SUBSISTENCE_ALLOWANCE",
    )
    assert await AuditEntry.filter(action="eligibility.check", object_id=str(check.id)).exists()

    class EarlierSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 11 * 60

    old = EarlierSigner(TEST_SECRET, salt=eligibility.QR_SALT).sign(
        f"ALE1.{household.id}.{household.card_serial}"
    )
    expired = await scan(old.decode())
    assert expired.status_code == 422 and re.search("expired|过期", expired.text)
    # Another first character of the signature (its last ones carry padding bits that decode alike).
    body, signature = token.rsplit(".", 1)
    forged = await scan(f"{body}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}")
    assert forged.status_code == 422
    await Household.filter(id=household.id).update(card_serial=household.card_serial + 1)
    assert (await scan(token)).status_code == 422
    assert await EligibilityCheck.all().count() == 1
    refusals = await AuditEntry.filter(action="eligibility.qr_refused").order_by("id")
    assert [entry.details["problem"] for entry in refusals] == ["expired", "forged", "revoked"]

"""The signed intake API: signatures, stale timestamps, replays, malformed bodies, read-back."""

from __future__ import annotations

import json
import time

import pytest

from alliance.core.codes import RequestStatus, VisitStatus
from alliance.core.timeutil import utc_now
from alliance.households.models import Household, IntakeBatch
from alliance.households.sources import add_source, sign
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Partner
from alliance.visits.models import ServiceRecord, Visit
from tests.intake_support import LUCHENG, build_city, person

URL = "/api/v1/intake/households"


@pytest.fixture
async def secret():
    await build_city()
    _source, secret = await add_source("wenzhou-sais")
    return secret


def signed(
    secret: str, body: bytes, timestamp: str | None = None, *, method: str = "POST", path: str = URL
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {
        "X-Alliance-Timestamp": timestamp,
        "X-Alliance-Signature": sign(secret, timestamp, body, method=method, path=path),
        "Content-Type": "application/json",
        "Accept-Language": "en",
    }


def body_of(records) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()


async def test_a_signed_batch_is_imported_with_the_clis_answer_shape(client, secret):
    body = body_of([person(1), person(2, phone="42")])
    response = await client.post(URL, content=body, headers=signed(secret, body))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {
        "batch",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "conflicts",
        "requests_created",
    }
    assert answer["conflicts"] == []
    assert (answer["created"], answer["requests_created"]) == (1, 3)
    assert answer["rejected"] == [
        {
            "row": 2,
            "external_id": "WZ-000002",
            "errors": [{"field": "phone", "message": answer["rejected"][0]["errors"][0]["message"]}],
        }
    ]
    batch = await IntakeBatch.get(id=answer["batch"]).prefetch_related("source")
    assert (batch.channel, batch.source.name) == ("api", "wenzhou-sais")


async def test_the_same_batch_sent_again_is_unchanged(client, secret):
    body = body_of([person(1)])
    await client.post(URL, content=body, headers=signed(secret, body))
    again = await client.post(URL, content=body, headers=signed(secret, body, str(int(time.time()) + 1)))
    assert again.json()["unchanged"] == 1
    assert await Household.all().count() == 1


async def test_a_bad_signature_is_refused(client, secret):
    body = body_of([person(1)])
    headers = signed("not-the-secret", body)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    tampered = signed(secret, body)
    response = await client.post(URL, content=body_of([person(2)]), headers=tampered)
    assert response.status_code == 401
    assert not await Household.exists()


async def test_missing_signature_headers_are_refused(client, secret):
    response = await client.post(URL, content=b"[]", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize("age", [301, -301, 3600])
async def test_a_timestamp_more_than_five_minutes_away_is_refused(client, secret, age):
    body = body_of([person(1)])
    response = await client.post(URL, content=body, headers=signed(secret, body, str(int(time.time()) - age)))
    assert response.status_code == 401
    assert "5 minutes" in response.json()["detail"]


async def test_a_replayed_request_is_refused(client, secret):
    body = body_of([person(1)])
    headers = signed(secret, body)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    replay = await client.post(URL, content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    assert await IntakeBatch.all().count() == 1


async def test_fractional_timestamps_allow_several_requests_a_second(client, secret):
    now = int(time.time())
    for fraction in (".100", ".200"):
        body = body_of([person(1)])
        response = await client.post(URL, content=body, headers=signed(secret, body, f"{now}{fraction}"))
        assert response.status_code == 200


async def test_a_disabled_source_is_refused(client, secret):
    from alliance.households.sources import set_source_active

    await set_source_active("wenzhou-sais", False)
    body = body_of([person(1)])
    assert (await client.post(URL, content=body, headers=signed(secret, body))).status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "Not valid JSON"),
        (b'{"external_id": "A"}', "JSON array"),
        (json.dumps([{}] * 10_001).encode(), "at most 10000"),
    ],
)
async def test_a_malformed_body_gets_400_with_a_message(client, secret, body, words):
    response = await client.post(URL, content=body, headers=signed(secret, body))
    assert response.status_code == 400
    assert response.json()["code"] == "malformed" and words in response.json()["detail"]


async def test_a_source_may_name_itself_and_is_then_checked_alone(client, secret):
    await add_source("other-system")
    body = body_of([person(1)])
    named = {**signed(secret, body), "X-Alliance-Source": "wenzhou-sais"}
    assert (await client.post(URL, content=body, headers=named)).status_code == 200
    body = body_of([person(2)])
    wrong = {**signed(secret, body), "X-Alliance-Source": "other-system"}
    assert (await client.post(URL, content=body, headers=wrong)).status_code == 401


async def read_back(client, secret, external_id: str, timestamp: str | None = None):
    path = f"{URL}/{external_id}"
    return await client.get(path, headers=signed(secret, b"", timestamp, method="GET", path=path))


async def test_read_back_shows_needs_requests_partner_visits_and_person_times(client, secret):
    body = body_of([person(1, flags=["LOW_INCOME"], member_count=3)])
    await client.post(URL, content=body, headers=signed(secret, body))
    household = await Household.get(external_id="WZ-000001")
    partner = await Partner.create(
        name="中国电信温州分公司", kind="telecom", status="approved", region_id=LUCHENG
    )
    request = await ServiceRequest.get(household_id=household.id)
    request.status, request.claimed_by_id, request.claimed_at = RequestStatus.COMPLETED, partner.id, utc_now()  # type: ignore[attr-defined]
    request.active_key = None
    await request.save()
    now = utc_now()
    for status in (VisitStatus.COMPLETED, VisitStatus.COMPLETED, VisitStatus.CANCELLED):
        visit = await Visit.create(
            request=request, partner=partner, window_start=now, window_end=now, status=status
        )
        if status == VisitStatus.COMPLETED:
            await ServiceRecord.create(visit=visit, persons_served=2, completed_at=now)

    response = await read_back(client, secret, "WZ-000001", f"{int(time.time())}.5")
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["external_id"] == "WZ-000001" and status["merged_into"] is None
    assert status["needs"] == []
    assert [(item["need"], item["status"], item["partner"]) for item in status["requests"]] == [
        ("TELECOM_DISCOUNT", "completed", "中国电信温州分公司")
    ]
    assert (status["visits_done"], status["person_times"]) == (2, 4)
    assert status["requests"][0]["visits_done"] == 2 and status["last_service_at"]
    assert status["flags"][0]["code"] == "LOW_INCOME" and status["flags"][0]["active"] is True


async def test_read_back_of_an_unknown_household_is_404(client, secret):
    response = await read_back(client, secret, "NOPE")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


async def test_read_back_needs_a_signature(client, secret):
    response = await client.get(f"{URL}/WZ-000001")
    assert response.status_code == 401

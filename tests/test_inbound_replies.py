"""Households answer a visit notice without a smartphone: the SMS or voice gateway posts the reply,
signed like intake, and it is applied like the web answer, once per gateway message id."""

from __future__ import annotations

import json
import time

import pytest

from alliance.cases.inbound import understand
from alliance.cases.models import InboundReply
from alliance.core.codes import (
    HouseholdResponse,
    InboundOutcome,
    NotificationChannel,
    RequestStatus,
    VisitStatus,
)
from alliance.households.models import Household
from alliance.households.sources import add_source, sign
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.visits_support import add_volunteer, build_visit_world, window

URL = "/api/v1/inbound/replies"


@pytest.fixture
async def gateway():
    world = await build_visit_world()
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    _source, secret = await add_source("sms-gateway")
    return world, visit, secret


def _post_args(secret: str, payload: dict) -> dict:
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = f"{time.time():.3f}"
    return {
        "content": body,
        "headers": {
            "X-Alliance-Timestamp": timestamp,
            "X-Alliance-Signature": sign(secret, timestamp, body, method="POST", path=URL),
            "Content-Type": "application/json",
            "Accept-Language": "en",
        },
    }


def test_replies_are_understood_in_digits_full_width_and_words():
    assert understand("1") == HouseholdResponse.CONFIRMED
    assert understand(" １ ") == HouseholdResponse.CONFIRMED
    assert understand("确认。") == HouseholdResponse.CONFIRMED
    assert understand("２") == HouseholdResponse.RESCHEDULE_REQUESTED
    assert understand("改期") == HouseholdResponse.RESCHEDULE_REQUESTED
    assert understand("3") == HouseholdResponse.DECLINED
    assert understand("不需要") == HouseholdResponse.DECLINED
    assert understand("我下午在家吗") is None
    assert understand("3", "voice") == HouseholdResponse.DECLINED
    assert understand("确认", "voice") is None


async def test_sms_reply_1_confirms_the_visit_and_a_repost_changes_nothing(client, gateway):
    world, visit, secret = gateway
    payload = {"message_id": "m-1", "from": "+86 138 1234 5678", "channel": "sms", "text": "１"}
    response = await client.post(URL, **_post_args(secret, payload))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied" and response.json()["visit"] == visit.id
    stored = await Visit.get(id=visit.id)
    assert stored.household_response == HouseholdResponse.CONFIRMED
    confirmed_notices = await Notification.filter(kind="household_confirmed").count()
    assert confirmed_notices >= 1
    again = await client.post(URL, **_post_args(secret, payload))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await InboundReply.filter(message_id="m-1").count() == 1
    assert await Notification.filter(kind="household_confirmed").count() == confirmed_notices


async def test_voice_key_3_declines_like_the_web_answer(client, gateway):
    world, visit, secret = gateway
    payload = {"message_id": "call-9", "from": "13812345678", "channel": "voice", "text": "3"}
    response = await client.post(URL, **_post_args(secret, payload))
    assert response.json()["outcome"] == "applied"
    stored = await Visit.get(id=visit.id)
    assert stored.status == VisitStatus.CANCELLED and stored.household_response == HouseholdResponse.DECLINED
    assert "voice call" in stored.household_response_note
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.OPEN and request.claimed_by_id is None


async def test_a_reply_nobody_understands_goes_to_the_community_worker_with_its_text(client, gateway):
    world, visit, secret = gateway
    payload = {"message_id": "m-2", "from": "13812345678", "channel": "sms", "text": "我腿疼，能早点来吗"}
    response = await client.post(URL, **_post_args(secret, payload))
    assert response.json()["outcome"] == InboundOutcome.NOT_UNDERSTOOD
    assert (await Visit.get(id=visit.id)).household_response == HouseholdResponse.PENDING
    worker = world.claims.left.users["community_worker"]
    notice = await Notification.get(kind="inbound_reply", user_id=worker.id)
    assert notice.channel == NotificationChannel.IN_APP
    assert "我腿疼，能早点来吗" in notice.body and notice.household_id == world.claims.left.household.id


async def test_unknown_number_and_no_pending_visit_each_reach_a_person(client, gateway):
    world, visit, secret = gateway
    unknown = await client.post(
        URL, **_post_args(secret, {"message_id": "m-3", "from": "13700000000", "channel": "sms", "text": "1"})
    )
    assert unknown.json()["outcome"] == InboundOutcome.UNKNOWN_SENDER
    admin_notice = await Notification.get(kind="inbound_reply", user_id=world.claims.admin.id)
    assert "13700000000" in admin_notice.body
    # The right household shares the phone but its visit is the left one's: a household with no visit.
    right = await Household.get(id=world.claims.right.household.id)
    right.phone = "13911112222"  # through the model: the phone is encrypted and indexed on save
    await right.save()
    no_visit = await client.post(
        URL, **_post_args(secret, {"message_id": "m-4", "from": "13911112222", "channel": "sms", "text": "1"})
    )
    assert no_visit.json()["outcome"] == InboundOutcome.NO_PENDING_VISIT
    right_worker = world.claims.right.users["community_worker"]
    assert await Notification.exists(kind="inbound_reply", user_id=right_worker.id)


async def test_unsigned_or_malformed_posts_are_refused(client, gateway):
    _world, _visit, secret = gateway
    unsigned = await client.post(URL, content=b"{}", headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    bad = await client.post(URL, **_post_args(secret, {"message_id": "", "from": "", "channel": "fax"}))
    assert bad.status_code == 422
    assert {error["field"] for error in bad.json()["errors"]} == {"message_id", "from", "channel"}
    assert await InboundReply.all().count() == 0

"""Issue 18: the regular-visit worklist per responsible partner — a partner holding a household's
claimed or scheduled home-service request sees when its regular visit is due, and only its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.errors import PermissionDenied
from alliance.core.models import AuditEntry, AuditHousehold
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.visits.models import RegularDue
from alliance.visits.partner_worklist import partner_regular_visits
from alliance.visits.regular import refresh_worklists
from tests.factories import build_two_sides, login


async def _held(household: Household, partner_id: int, need: str, status: str) -> None:
    await ServiceRequest.create(household=household, need_id=need, status=status, claimed_by_id=partner_id)


async def test_each_partner_sees_only_the_households_it_is_responsible_for(client):
    left, right, _admin = await build_two_sides()
    await ServiceRequest.all().delete()
    await refresh_worklists()
    today = utc_now().astimezone(LOCAL_TZ).date()
    overdue_day = today - timedelta(days=5)
    await RegularDue.filter(household_id=left.household.id).update(due_on=overdue_day)
    await RegularDue.filter(household_id=right.household.id).update(due_on=today)
    assert await RegularDue.filter(household_id__in=[left.household.id, right.household.id]).count() == 2
    # Left holds a home-care claim on its household; right a scheduled home repair on its own, and a
    # telecom discount (no home service) on left's household: that makes it no one's responsible partner.
    await _held(left.household, left.partner.id, "HOME_CARE", "claimed")
    await _held(right.household, right.partner.id, "HOME_REPAIR", "scheduled")
    await _held(left.household, right.partner.id, "TELECOM_DISCOUNT", "claimed")

    left_dispatcher = await principal_for(left.users["dispatcher"])
    rows = await partner_regular_visits(left_dispatcher, address="127.0.0.1")
    assert [(row.household_id, row.due_on, row.overdue) for row in rows] == [
        (left.household.id, overdue_day, True)
    ]
    assert rows[0].worker_name == left.users["community_worker"].display_name
    right_admin = await principal_for(right.users["partner_admin"])
    rows = await partner_regular_visits(right_admin)
    assert [(row.household_id, row.overdue) for row in rows] == [(right.household.id, False)]

    # A released request (open again) makes the partner no longer responsible.
    await ServiceRequest.filter(claimed_by_id=right.partner.id, need_id="HOME_REPAIR").update(status="open")
    assert await partner_regular_visits(right_admin) == []
    with pytest.raises(PermissionDenied):
        await partner_regular_visits(await principal_for(left.users["community_worker"]))

    await login(client, left.users["dispatcher"].username)
    page = await client.get("/partner/regular-visits")
    assert page.status_code == 200 and left.household.head_name in page.text
    assert right.household.head_name not in page.text and str(overdue_day) in page.text
    assert 'href="/partner/regular-visits"' in page.text
    entry = await AuditEntry.filter(action="partner_regular_visits.view").order_by("-id").first()
    assert entry is not None and entry.actor_id == left.users["dispatcher"].id
    named = {entry.household_id} | set(
        await AuditHousehold.filter(entry_id=entry.id).values_list("household_id", flat=True)
    )
    assert left.household.id in named and right.household.id not in named

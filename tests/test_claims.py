"""Claims: atomic claims with capacity, release, assign and move, close, transfers (with automatic
approval by the real arq worker), unscheduled claims, and the append-only history."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import CloseReason, NotificationStatus, PartnerStatus, RequestStatus, TransferStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.models import AuditEntry, Region, User
from alliance.core.timeutil import utc_now
from alliance.matching.assignment import assign_request
from alliance.matching.claims import (
    CapacityExhausted,
    ClaimConflict,
    InvalidTransition,
    capacity_month,
    claim_request,
    close_request,
    places_used,
    release_claim,
)
from alliance.matching.matching import match_all
from alliance.matching.models import Match, OfferingMonth, RequestTransition, ServiceRequest, TransferRequest
from alliance.matching.transfers import ask_transfer, auto_approve_due_transfers, decide_transfer
from alliance.matching.unscheduled_claims import schedule_within_days, sweep_unscheduled_claims
from alliance.notifications.models import Notification
from alliance.partners.models import Partner
from tests.claims_support import add_household_request, add_open_request, add_partner, build_claim_world


async def _history(request_id: int) -> list[tuple]:
    return [
        (row.from_status, row.to_status, row.partner_id, row.actor_id, row.reason)
        for row in await RequestTransition.filter(request_id=request_id).order_by("id")
    ]


async def test_claim_takes_the_request_and_one_place_and_is_recorded():
    world = await build_claim_world()
    dispatcher = await world.home.principal()
    result = await claim_request(dispatcher, world.request.id)
    assert result.request.status == RequestStatus.CLAIMED
    assert result.request.claimed_by_id == world.home.partner.id
    assert result.request.offering_id == world.home.offering.id
    assert result.request.claimed_at is not None
    assert await places_used(world.home.offering.id) == 1
    assert await _history(world.request.id) == [
        ("open", "claimed", world.home.partner.id, world.home.dispatcher.id, "claim")
    ]
    assert await AuditEntry.filter(action="request.claim", object_id=str(world.request.id)).count() == 1


async def test_second_claim_loses_with_owner_named():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    with pytest.raises(ClaimConflict) as lost:
        await claim_request(await world.rival.principal(), world.request.id)
    assert lost.value.by == world.home.partner.name
    assert await places_used(world.rival.offering.id) == 0
    assert await RequestTransition.filter(request_id=world.request.id).count() == 1


async def test_simultaneous_claims_exactly_one_wins():
    world = await build_claim_world()
    principals = [await world.home.principal(), await world.rival.principal()] * 10
    outcomes = await asyncio.gather(
        *(claim_request(principal, world.request.id) for principal in principals), return_exceptions=True
    )
    winners = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, ClaimConflict)]
    assert len(winners) == 1 and len(losers) == 19
    holder = winners[0].partner
    assert {loser.by for loser in losers} == {holder.name}
    assert await places_used(winners[0].offering.id) == 1
    assert await RequestTransition.filter(request_id=world.request.id).count() == 1


async def test_a_full_offering_cannot_be_over_claimed():
    world = await build_claim_world(capacity=1)
    second = await add_household_request(world.left, "second")
    await match_all(notify=False)  # both requests matched while a place was left
    dispatcher = await world.home.principal()
    await claim_request(dispatcher, world.request.id)
    assert await Match.filter(request_id=second.id, partner_id=world.home.partner.id).exists()
    with pytest.raises(CapacityExhausted):
        await claim_request(dispatcher, second.id)
    refreshed = await ServiceRequest.get(id=second.id)
    assert refreshed.status == RequestStatus.OPEN and refreshed.claimed_by_id is None
    assert await places_used(world.home.offering.id) == 1
    assert await RequestTransition.filter(request_id=second.id).count() == 0
    # The rival still has places: the request is not lost.
    await claim_request(await world.rival.principal(), second.id)


async def test_concurrent_claims_of_many_requests_never_exceed_capacity():
    world = await build_claim_world(capacity=3)
    requests = [world.request] + [await add_household_request(world.left, f"n{index}") for index in range(7)]
    await match_all(notify=False)
    dispatcher = await world.home.principal()
    outcomes = await asyncio.gather(
        *(claim_request(dispatcher, request.id) for request in requests), return_exceptions=True
    )
    won = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    full = [outcome for outcome in outcomes if isinstance(outcome, CapacityExhausted)]
    assert len(won) == 3 and len(full) == 5, outcomes
    row = await OfferingMonth.get(offering_id=world.home.offering.id, month=capacity_month())
    assert row.claimed == 3
    assert await ServiceRequest.filter(status=RequestStatus.CLAIMED).count() == 3


async def test_claim_uses_the_next_matched_offering_when_the_best_is_full():
    world = await build_claim_world(capacity=0)
    second = await add_partner(
        world.home.partner.name, world.left.district, capacity=2, partner=world.home.partner
    )
    for offering, score in ((world.home.offering, 90.0), (second.offering, 10.0)):
        await Match.update_or_create(
            request_id=world.request.id,
            offering_id=offering.id,
            defaults={"partner_id": world.home.partner.id, "score": score},
        )
    result = await claim_request(await world.home.principal(), world.request.id)
    assert result.offering.id == second.offering.id
    assert await places_used(second.offering.id) == 1 and await places_used(world.home.offering.id) == 0


async def test_a_partner_not_matched_cannot_see_or_claim_the_request():
    world = await build_claim_world()
    with pytest.raises(NotFound):
        await claim_request(await world.far.principal(), world.request.id)
    # Not even after someone else claimed it: whether it exists or who holds it stays hidden.
    await claim_request(await world.home.principal(), world.request.id)
    with pytest.raises(NotFound):
        await claim_request(await world.far.principal(), world.request.id)


async def test_a_suspended_partner_cannot_claim_and_a_coordinator_claims_nothing():
    world = await build_claim_world()
    await Partner.filter(id=world.rival.partner.id).update(status=PartnerStatus.SUSPENDED)
    with pytest.raises(PermissionDenied):
        await claim_request(await world.rival.principal(), world.request.id)
    coordinator = await principal_for(world.left.users["coordinator"])
    with pytest.raises(PermissionDenied):
        await claim_request(coordinator, world.request.id)
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.OPEN


async def test_history_is_append_only_across_claim_release_and_reclaim():
    world = await build_claim_world()
    home, rival = await world.home.principal(), await world.rival.principal()
    await claim_request(home, world.request.id)
    first = await RequestTransition.filter(request_id=world.request.id).order_by("id")
    released = await release_claim(home, world.request.id, "户主已搬走，无法上门")
    assert released.status == RequestStatus.OPEN and released.claimed_by_id is None
    assert released.offering_id is None and released.claimed_at is None
    assert await places_used(world.home.offering.id) == 0
    await match_all(notify=False)
    await claim_request(rival, world.request.id)
    history = await _history(world.request.id)
    assert history == [
        ("open", "claimed", world.home.partner.id, world.home.dispatcher.id, "claim"),
        ("claimed", "open", world.home.partner.id, world.home.dispatcher.id, "release: 户主已搬走，无法上门"),
        ("open", "claimed", world.rival.partner.id, world.rival.dispatcher.id, "claim"),
    ]
    # The first row was not touched by what came after.
    again = await RequestTransition.get(id=first[0].id)
    assert (again.partner_id, again.at, again.reason) == (first[0].partner_id, first[0].at, first[0].reason)


async def test_release_needs_a_reason_and_the_holder():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    with pytest.raises(InvalidInput):
        await release_claim(await world.home.principal(), world.request.id, "   ")
    with pytest.raises(NotFound):
        await release_claim(await world.rival.principal(), world.request.id, "不是我们的")
    coordinator = await principal_for(world.left.users["coordinator"])
    with pytest.raises(PermissionDenied):
        await release_claim(coordinator, world.request.id, "协调员不能释放")
    assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.home.partner.id


async def test_coordinator_assigns_an_open_request_then_moves_it_with_its_capacity():
    world = await build_claim_world()
    coordinator = await principal_for(world.left.users["coordinator"])
    assigned = await assign_request(coordinator, world.request.id, world.rival.offering.id, "离得最近")
    assert assigned.status == RequestStatus.CLAIMED and assigned.claimed_by_id == world.rival.partner.id
    assert await places_used(world.rival.offering.id) == 1
    moved = await assign_request(coordinator, world.request.id, world.home.offering.id, "对手忙不过来")
    assert moved.claimed_by_id == world.home.partner.id and moved.offering_id == world.home.offering.id
    assert await places_used(world.rival.offering.id) == 0 and await places_used(world.home.offering.id) == 1
    history = await _history(world.request.id)
    coordinator_id = world.left.users["coordinator"].id
    assert history == [
        ("open", "claimed", world.rival.partner.id, coordinator_id, "assign: 离得最近"),
        ("claimed", "claimed", world.home.partner.id, coordinator_id, "move: 对手忙不过来"),
    ]


async def test_assignment_is_refused_outside_the_region_and_to_a_full_offering():
    world = await build_claim_world(capacity=0)
    other_coordinator = await principal_for(world.right.users["coordinator"])
    with pytest.raises(NotFound):
        await assign_request(other_coordinator, world.request.id, world.home.offering.id)
    with pytest.raises(PermissionDenied):
        await assign_request(await world.home.principal("admin"), world.request.id, world.home.offering.id)
    coordinator = await principal_for(world.left.users["coordinator"])
    with pytest.raises(CapacityExhausted):
        await assign_request(coordinator, world.request.id, world.home.offering.id)
    with pytest.raises(InvalidInput):  # an offering for another need
        health = await add_partner("健康服务站", world.left.district, need="HEALTH_SUPPORT", suffix="health")
        await assign_request(coordinator, world.request.id, health.offering.id)
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.OPEN


async def test_close_with_each_reason_frees_the_need_and_is_kept_in_history():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    closed = await close_request(
        await world.home.principal(), world.request.id, CloseReason.UNREACHABLE, "三次未接"
    )
    assert closed.status == RequestStatus.CANCELLED and closed.close_reason == CloseReason.UNREACHABLE
    assert closed.active_key is None
    with pytest.raises(InvalidTransition):
        await close_request(await world.home.principal(), world.request.id, CloseReason.COMPLETED)
    # A new request for the same need may exist now (the unique active key was freed).
    await add_open_request(world.left, "HOME_CARE")
    coordinator = await principal_for(world.left.users["coordinator"])
    newer = await ServiceRequest.get(household_id=world.left.household.id, status="open", need_id="HOME_CARE")
    done = await close_request(coordinator, newer.id, CloseReason.DONE_BY_OTHERS)
    assert done.status == RequestStatus.CANCELLED and done.close_reason == "done_by_others"
    (last,) = await RequestTransition.filter(request_id=world.request.id, to_status="cancelled")
    assert last.reason == "close: unreachable 三次未接"
    with pytest.raises(InvalidInput):
        await close_request(coordinator, newer.id, "because")
    with pytest.raises(NotFound):  # a partner that does not hold it
        other = await add_open_request(world.left, "HEALTH_SUPPORT")
        await close_request(await world.rival.principal(), other.id, CloseReason.COMPLETED)


async def test_transfer_approved_by_the_holder_moves_request_and_capacity():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    asked = await ask_transfer(await world.rival.principal(), world.request.id, "我们就在楼下")
    assert asked.transfer.status == TransferStatus.PENDING
    assert asked.transfer.due_at > utc_now() + timedelta(hours=35)
    told = await Notification.filter(id__in=asked.notification_ids).prefetch_related("user")
    assert {notice.user.partner_id for notice in told} == {world.home.partner.id}
    with pytest.raises(InvalidTransition):  # asking twice
        await ask_transfer(await world.rival.principal(), world.request.id, "再问一次")
    with pytest.raises(NotFound):  # the rival cannot answer its own ask
        await decide_transfer(await world.rival.principal(), asked.transfer.id, True)
    decided = await decide_transfer(await world.home.principal("admin"), asked.transfer.id, True, "好的")
    assert decided.transfer.status == TransferStatus.APPROVED
    request = await ServiceRequest.get(id=world.request.id)
    assert request.claimed_by_id == world.rival.partner.id and request.offering_id == world.rival.offering.id
    assert await places_used(world.home.offering.id) == 0 and await places_used(world.rival.offering.id) == 1
    history = await _history(world.request.id)
    assert history[-1] == (
        "claimed",
        "claimed",
        world.rival.partner.id,
        world.home.admin.id,
        "transfer: 我们就在楼下",
    )
    with pytest.raises(InvalidTransition):
        await decide_transfer(await world.home.principal("admin"), asked.transfer.id, False)


async def test_transfer_denied_keeps_the_request_with_its_holder():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    asked = await ask_transfer(await world.rival.principal(), world.request.id, "我们更近")
    decided = await decide_transfer(await world.home.principal(), asked.transfer.id, False, "已约好时间")
    assert decided.transfer.status == TransferStatus.DENIED and decided.transfer.decision_note == "已约好时间"
    assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.home.partner.id
    assert len(decided.notification_ids) == 2  # the asker's admin and dispatcher


async def test_transfer_cannot_be_asked_of_an_open_request_or_by_the_holder():
    world = await build_claim_world()
    with pytest.raises(InvalidTransition):
        await ask_transfer(await world.rival.principal(), world.request.id, "还没人认领")
    await claim_request(await world.home.principal(), world.request.id)
    with pytest.raises(InvalidTransition):
        await ask_transfer(await world.home.principal(), world.request.id, "自己的")
    with pytest.raises(NotFound):
        await ask_transfer(await world.far.principal(), world.request.id, "不在我们的区域")


async def test_unanswered_transfer_is_approved_automatically_by_the_worker(arq_worker, settings):
    from arq import create_pool
    from arq.connections import RedisSettings

    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    asked = await ask_transfer(
        await world.rival.principal(), world.request.id, "无人答复", answer_within=timedelta(hours=36)
    )
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        # Not yet due: the job approves nothing.
        await pool.enqueue_job("auto_approve_transfers")
        await arq_worker.main()
        assert (await TransferRequest.get(id=asked.transfer.id)).status == TransferStatus.PENDING
        await TransferRequest.filter(id=asked.transfer.id).update(due_at=utc_now() - timedelta(minutes=1))
        await pool.enqueue_job("auto_approve_transfers")
        await arq_worker.main()
    finally:
        await pool.aclose()
    transfer = await TransferRequest.get(id=asked.transfer.id)
    assert transfer.status == TransferStatus.AUTO_APPROVED and transfer.decided_by_id is None
    request = await ServiceRequest.get(id=world.request.id)
    assert request.claimed_by_id == world.rival.partner.id
    assert (await _history(world.request.id))[-1] == (
        "claimed",
        "claimed",
        world.rival.partner.id,
        None,
        "transfer_auto: 无人答复",
    )
    # The worker also delivered the notices it wrote (the asker is told it has the request now).
    rival_users = await User.filter(partner_id=world.rival.partner.id).values_list("id", flat=True)
    notices = await Notification.filter(user_id__in=rival_users)
    assert notices and all(notice.status == NotificationStatus.SENT for notice in notices)
    # Run again: nothing more happens.
    assert (await auto_approve_due_transfers()).approved == []


async def test_auto_approval_of_a_request_released_meanwhile_is_denied_with_the_cause():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    asked = await ask_transfer(await world.rival.principal(), world.request.id, "想接手")
    await release_claim(await world.home.principal(), world.request.id, "人手不够")
    # Releasing answered the pending ask already.
    assert (await TransferRequest.get(id=asked.transfer.id)).status == TransferStatus.DENIED
    await claim_request(await world.home.principal(), world.request.id)
    again = await ask_transfer(await world.rival.principal(), world.request.id, "再次申请")
    await Partner.filter(id=world.rival.partner.id).update(status=PartnerStatus.APPROVED)
    await ServiceRequest.filter(id=world.request.id).update(claimed_by_id=world.far.partner.id)
    sweep = await auto_approve_due_transfers(now=utc_now() + timedelta(hours=37))
    assert sweep.approved == [] and sweep.denied == [again.transfer.id]


async def test_region_setting_for_scheduling_is_inherited():
    world = await build_claim_world()
    community = await Region.get(code=world.left.community)
    assert (await schedule_within_days([community.path]))[community.path] == 6
    await Region.filter(code=world.left.district).update(schedule_claim_within_days=3)
    assert (await schedule_within_days([community.path]))[community.path] == 3
    await Region.filter(code=world.left.community).update(schedule_claim_within_days=9)
    assert (await schedule_within_days([community.path]))[community.path] == 9


async def test_unscheduled_claim_is_flagged_then_released_and_the_coordinator_told():
    world = await build_claim_world()
    await Region.filter(code=world.left.district).update(schedule_claim_within_days=2)
    await claim_request(await world.home.principal(), world.request.id)
    claimed_at = (await ServiceRequest.get(id=world.request.id)).claimed_at

    early = await sweep_unscheduled_claims(now=claimed_at + timedelta(days=1, hours=23))
    assert early.warned == [] and early.released == []

    warned = await sweep_unscheduled_claims(now=claimed_at + timedelta(days=2, hours=1))
    assert warned.warned == [world.request.id] and warned.released == []
    request = await ServiceRequest.get(id=world.request.id)
    assert request.claim_warned_at is not None and request.status == RequestStatus.CLAIMED
    told = await Notification.filter(id__in=warned.notification_ids).prefetch_related("user")
    assert {notice.user.partner_id for notice in told} == {world.home.partner.id}
    assert all(str(world.request.id) in notice.body for notice in told)
    # Running the sweep twice warns once.
    again = await sweep_unscheduled_claims(now=claimed_at + timedelta(days=2, hours=2))
    assert again.warned == [] and again.released == []

    released = await sweep_unscheduled_claims(now=claimed_at + timedelta(days=3, hours=2))
    assert released.released == [world.request.id]
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.OPEN and request.claimed_by_id is None
    assert await places_used(world.home.offering.id) == 0
    told = await Notification.filter(id__in=released.notification_ids).prefetch_related("user")
    coordinators = {notice.user.username for notice in told if notice.user.role == "coordinator"}
    assert coordinators == {world.left.users["coordinator"].username}
    assert (await _history(world.request.id))[-1] == (
        "claimed",
        "open",
        world.home.partner.id,
        None,
        "unscheduled",
    )


async def test_unscheduled_sweep_runs_in_the_worker_and_requeues_matching(arq_worker, settings):
    from arq import create_pool
    from arq.connections import RedisSettings

    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    long_ago = utc_now() - timedelta(days=8)
    await ServiceRequest.filter(id=world.request.id).update(claimed_at=long_ago, claim_warned_at=long_ago)
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        await pool.enqueue_job("release_unscheduled_claims")
        await arq_worker.main()
    finally:
        await pool.aclose()
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.OPEN
    # The worker re-matched the released request: it is on the boards again.
    assert await Match.filter(request_id=world.request.id).count() >= 2
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 0

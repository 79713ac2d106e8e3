"""Verification and consent that bind: matching and the claim board offer only households consented
to sharing (and verified where the region requires it); withdrawing or expiring consent takes them
off every board and calls off their visits with a notice to the partner; history is kept."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import TaskKind
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.models import AuditEntry
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households import consent
from alliance.households.models import ConsentRecord, Household
from alliance.matching.board import BoardFilters, board_page, forget_kept_figures
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_all
from alliance.matching.models import Match
from alliance.notifications.models import Notification, Task
from alliance.visits import consent_effects
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.claims_support import build_claim_world
from tests.factories import login, session_csrf
from tests.intake_support import LUCHENG, LUCHENG_COMMUNITY, build_city, import_json, person
from tests.visits_support import add_volunteer, build_visit_world, window


async def _board_ids(setup) -> list[int]:
    forget_kept_figures()
    page = await board_page(await setup.principal(), BoardFilters())
    return [item.request_id for item in page.items]


async def _post(client, path: str, data: dict):
    return await client.post(path, data=data, headers={"X-CSRF-Token": session_csrf(client)})


async def test_withdrawn_consent_leaves_every_board_and_cannot_be_claimed(app, client):
    world = await build_claim_world()
    assert world.request.id in await _board_ids(world.home)
    assert world.request.id in await _board_ids(world.rival)
    await login(client, world.left.users["community_worker"].username)
    response = await _post(
        client, f"/households/{world.left.household.id}/consent", {"method": "signed_paper", "expires_on": ""}
    )
    assert response.status_code == 303
    household = await Household.get(id=world.left.household.id)
    assert (household.consent_status, household.matchable, household.consent) == ("withdrawn", False, False)
    assert world.request.id not in await _board_ids(world.home)
    assert world.request.id not in await _board_ids(world.rival)
    with pytest.raises(NotFound):
        await claim_request(await world.rival.principal(), world.request.id)
    # The nightly re-match does not bring it back.
    await match_all(notify=False)
    assert not await Match.filter(request_id=world.request.id).exists()
    # History and the audit trail keep what happened.
    records = await ConsentRecord.filter(household_id=household.id)
    assert [record.status for record in records] == ["withdrawn"]
    assert await AuditEntry.filter(action="household.consent_withdrawn", object_id=str(household.id)).exists()
    # Consent given again puts it back on the boards once matched again.
    await _post(
        client,
        f"/households/{household.id}/consent",
        {"scope": ["share", "contact_sms"], "method": "spoken_witnessed", "witness": "王主任"},
    )
    household = await Household.get(id=household.id)
    assert (household.consent_status, household.matchable, household.consent_scope) == (
        "given",
        True,
        ["share", "contact_sms"],
    )
    await match_all(notify=False)
    assert world.request.id in await _board_ids(world.home)
    page = await client.get(f"/households/{household.id}")
    # The page shows the consent history: the witness of the spoken consent, and the withdrawal.
    assert "王主任" in page.text and page.text.count("<li>") >= 2


async def test_consent_without_sharing_scope_does_not_share(client):
    world = await build_claim_world()
    worker = await principal_for(world.left.users["community_worker"])
    change = await consent.record_consent(
        worker, world.left.household.id, scope=["contact_sms"], method="signed_paper"
    )
    assert change.sharing_stopped
    await match_all(notify=False)
    assert world.request.id not in await _board_ids(world.home)


async def test_bad_consent_is_refused_with_its_field_and_writes_nothing(app, client):
    world = await build_claim_world()
    worker = await principal_for(world.left.users["community_worker"])
    with pytest.raises(InvalidInput) as refused:
        await consent.record_consent(
            worker, world.left.household.id, scope=["share"], method="spoken_witnessed"
        )
    assert "witness" in refused.value.errors
    with pytest.raises(InvalidInput) as refused:
        await consent.record_consent(
            worker, world.left.household.id, scope=["share"], method="signed_paper", expires_on="2001-01-01"
        )
    assert "expires_on" in refused.value.errors
    await login(client, world.left.users["community_worker"].username)
    response = await _post(
        client, f"/households/{world.left.household.id}/consent", {"scope": "share", "method": "telepathy"}
    )
    assert response.status_code == 422 and "method" in response.text
    assert not await ConsentRecord.exists()
    assert (await Household.get(id=world.left.household.id)).consent_status == "system"


async def test_withdrawal_calls_off_future_visits_and_tells_the_partner(app, client):
    world = await build_visit_world()
    volunteer = await add_volunteer(world.partner, "赵志愿")
    start, end = window(2, 10)
    visit = (await schedule_visit(world.dispatcher, world.request.id, start, end, [volunteer.id])).visit
    household_id = world.claims.left.household.id
    await login(client, world.claims.left.users["community_worker"].username)
    response = await _post(client, f"/households/{household_id}/consent", {"method": "signed_paper"})
    assert response.status_code == 303
    assert (await Visit.get(id=visit.id)).status == "cancelled"
    told = await Notification.filter(kind="consent_withdrawn", visit_id=visit.id).values_list(
        "user_id", flat=True
    )
    assert set(told) == {world.claims.home.admin.id, world.claims.home.dispatcher.id}
    # The claim and its history stay: the partner still holds the request.
    from alliance.matching.models import ServiceRequest

    held = await ServiceRequest.get(id=world.request.id)
    assert (held.claimed_by_id, held.status) == (world.partner.id, "claimed")
    # No new visit while consent is withdrawn.
    from alliance.matching.claims import InvalidTransition

    with pytest.raises(InvalidTransition):
        await schedule_visit(world.dispatcher, world.request.id, *window(3, 10), [volunteer.id])
    # The dispatcher reads it in the inbox.
    await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    await login(client, world.claims.home.dispatcher.username)
    inbox = await client.get("/inbox")
    assert f"#{visit.id}" in inbox.text and f"/visits/{visit.id}" in inbox.text


async def test_region_requiring_verification_holds_back_unverified_households(app, client):
    world = await build_claim_world()
    left = world.left
    await login(client, left.users["coordinator"].username)
    # The district requires it: its community inherits the policy.
    response = await _post(
        client, f"/admin/region-settings/{left.district}", {"verification_required": "yes"}
    )
    assert response.status_code == 303
    household = await Household.get(id=left.household.id)
    assert household.matchable is False
    assert world.request.id not in await _board_ids(world.home)
    assert not await Match.filter(request_id=world.request.id).exists()
    page = await client.get("/admin/region-settings")
    assert page.status_code == 200 and left.community in page.text
    # The community worker verifies it: offered again once matched.
    await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    await login(client, left.users["community_worker"].username)
    response = await _post(
        client, f"/households/{household.id}/verify", {"method": "home_visit", "note": "见到本人"}
    )
    assert response.status_code == 303
    household = await Household.get(id=household.id)
    assert (household.verified, household.verification_method, household.matchable) == (
        True,
        "home_visit",
        True,
    )
    assert household.verified_by_id == left.users["community_worker"].id and household.verified_at is not None
    assert await AuditEntry.filter(action="household.verify", object_id=str(household.id)).exists()
    await match_all(notify=False)
    assert world.request.id in await _board_ids(world.home)


async def test_a_community_overrides_its_district(client):
    world = await build_claim_world()
    left = world.left
    coordinator = await principal_for(left.users["coordinator"])
    await consent_effects.set_verification_required(coordinator, left.district, True)
    assert (await Household.get(id=left.household.id)).matchable is False
    await consent_effects.set_verification_required(coordinator, left.community, False)
    assert (await Household.get(id=left.household.id)).matchable is True
    assert await consent.verification_required([f"/330300/{left.district}/{left.district}001/"]) == {
        f"/330300/{left.district}/{left.district}001/": True
    }
    # Another district's coordinator cannot set this one's policy.
    with pytest.raises(NotFound):
        await consent_effects.set_verification_required(
            await principal_for(world.right.users["coordinator"]), left.district, False
        )


async def test_expiring_consent_becomes_a_task_then_leaves_the_boards(client):
    world = await build_claim_world()
    worker = await principal_for(world.left.users["community_worker"])
    expires_on = (utc_now().astimezone(LOCAL_TZ) + timedelta(days=3)).date().isoformat()
    await consent_effects.record_consent(
        worker, world.left.household.id, scope=["share"], method="signed_paper", expires_on=expires_on
    )
    assert await consent.warn_expiring_consents() == 1
    assert await consent.warn_expiring_consents() == 1  # the same open task, not a second
    task = await Task.get(kind=TaskKind.CONSENT_EXPIRES)
    assert task.owner_id == worker.user_id and task.state == "open"
    expires_at = (await Household.get(id=world.left.household.id)).consent_expires_at
    # 23:59 Shanghai time is 15:59 UTC: a minute before, nothing; six minutes after, it has expired
    # (on SQLite too, where a timestamp kept with +08:00 once sorted after 16:05+00:00).
    assert (await consent_effects.expire_consents(now=expires_at - timedelta(minutes=1))).job_ids == []
    assert (await Household.get(id=world.left.household.id)).consent_status == "given"
    outcome = await consent_effects.expire_consents(now=expires_at.astimezone(UTC) + timedelta(minutes=6))
    assert outcome.job_ids == []
    household = await Household.get(id=world.left.household.id)
    assert (household.consent_status, household.matchable) == ("expired", False)
    assert world.request.id not in await _board_ids(world.home)
    assert [r.status for r in await ConsentRecord.filter(household_id=household.id).order_by("id")] == [
        "given",
        "expired",
    ]
    # Recording consent again closes the task.
    await consent_effects.record_consent(worker, household.id, scope=["share"], method="signed_paper")
    assert (await Task.get(id=task.id)).state == "done"


async def test_a_household_records_its_own_consent_in_the_app(app, client):
    world = await build_claim_world()
    await login(client, world.left.users["household"].username)
    page = await client.get("/my-household")
    assert 'action="/my-household/consent"' in page.text and "/verify" not in page.text
    response = await _post(
        client, "/my-household/consent", {"scope": ["share", "contact_voice"], "method": "signed_paper"}
    )
    assert response.status_code == 303
    record = await ConsentRecord.get(household_id=world.left.household.id)
    assert (record.method, record.by_household, record.scope) == ("in_app", True, ["share", "contact_voice"])
    # A household cannot verify itself.
    response = await _post(client, f"/households/{world.left.household.id}/verify", {"method": "phone"})
    assert response.status_code in (403, 404)


async def test_intake_households_start_shared_unverified_with_a_verify_task(client):
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role

    await build_city()
    worker = await create_user(
        "worker-wuma", "correct-horse-1", Role.COMMUNITY_WORKER, region_code=LUCHENG_COMMUNITY
    )
    result = await import_json([person(1), person(2)])
    assert result.created == 2
    households = await Household.all().order_by("id")
    assert [(h.consent_status, h.verified, h.matchable) for h in households] == [("system", False, True)] * 2
    tasks = await Task.filter(kind=TaskKind.VERIFY_HOUSEHOLD).order_by("subject_id")
    assert [(t.owner_id, t.subject_id) for t in tasks] == [(worker.id, str(h.id)) for h in households]
    # Sent again: no second task while the first is open.
    await import_json([person(1), person(2)])
    assert await Task.filter(kind=TaskKind.VERIFY_HOUSEHOLD).count() == 2


async def test_a_crash_mid_file_leaves_every_committed_household_with_its_verify_task(client):
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role

    await build_city()
    # No community worker there: the coordinator above gets the tasks.
    coordinator = await create_user("coord-lc", "correct-horse-1", Role.COORDINATOR, region_code=LUCHENG)

    def crash_after_the_first_chunk(done: int, total: int) -> None:
        if done >= 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        await import_json(
            [person(number) for number in range(1, 5)], chunk_size=2, on_progress=crash_after_the_first_chunk
        )
    households = await Household.all().order_by("id")
    assert len(households) == 2
    tasks = await Task.filter(kind=TaskKind.VERIFY_HOUSEHOLD).order_by("subject_id")
    assert [(t.owner_id, t.subject_id) for t in tasks] == [(coordinator.id, str(h.id)) for h in households]
    # The re-run creates the other two, each with its task, and no second task for the first two.
    await import_json([person(number) for number in range(1, 5)], chunk_size=2)
    assert await Task.filter(kind=TaskKind.VERIFY_HOUSEHOLD).count() == 4

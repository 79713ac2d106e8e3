"""The claim board under churn (issue 20, item 1): a claim, release or re-match drops only the boards
it touches — the pages a web process keeps for other partners stay — and a board it touches shows the
change at the very next view; views that arrive together share one build."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alliance.core.timeutil import utc_now
from alliance.matching import board_changes
from alliance.matching.board import BoardFilters, board_page
from alliance.matching.claims import claim_request, release_claim
from alliance.matching.match_storage import AREA_SEARCH_FROM
from alliance.matching.matching import match_offering, match_requests
from alliance.matching.models import BoardChange
from alliance.partners.models import Offering
from tests.claims_support import add_household_request, add_partner, build_claim_world


def _ids(page) -> list[int]:
    return [item.request_id for item in page.items]


async def test_a_claim_drops_the_boards_that_list_the_request_and_keeps_the_others():
    world = await build_claim_world()
    right_request = await add_household_request(world.right, "右")
    await match_requests([right_request.id], notify=False)
    home, rival, far = (
        await world.home.principal(),
        await world.rival.principal(),
        await world.far.principal(),
    )
    rival_page, far_page = await board_page(rival, BoardFilters()), await board_page(far, BoardFilters())
    assert world.request.id in _ids(rival_page) and right_request.id in _ids(far_page)
    assert await board_page(rival, BoardFilters()) is rival_page  # kept

    await claim_request(home, world.request.id)

    # The rival's board listed the request: its next view is built again without it.
    after = await board_page(rival, BoardFilters())
    assert after is not rival_page and world.request.id not in _ids(after)
    # The far partner's board never listed it: its kept page stands.
    assert await board_page(far, BoardFilters()) is far_page

    await release_claim(home, world.request.id, "家属已自行安排")
    assert world.request.id in _ids(await board_page(rival, BoardFilters()))
    assert await board_page(far, BoardFilters()) is far_page


async def test_a_rematch_drops_the_boards_of_the_partners_whose_matches_it_replaced():
    world = await build_claim_world()
    rival, far = await world.rival.principal(), await world.far.principal()
    rival_page, far_page = await board_page(rival, BoardFilters()), await board_page(far, BoardFilters())
    newcomer = await add_household_request(world.left, "新")
    await match_requests([newcomer.id], notify=False)
    assert newcomer.id in _ids(await board_page(rival, BoardFilters()))
    assert await board_page(far, BoardFilters()) is far_page
    assert rival_page.total + 1 == (await board_page(rival, BoardFilters())).total


async def test_views_that_arrive_together_share_one_build():
    world = await build_claim_world()
    rival = await world.rival.principal()
    pages = await asyncio.gather(*(board_page(rival, BoardFilters()) for _ in range(8)))
    assert all(page is pages[0] for page in pages)
    assert world.request.id in _ids(pages[0])


async def test_old_change_marks_are_pruned_and_a_board_then_builds_once_more():
    world = await build_claim_world()
    rival = await world.rival.principal()
    await claim_request(await world.home.principal(), world.request.id)
    page = await board_page(rival, BoardFilters())
    marks = await BoardChange.filter(partner_id=world.rival.partner.id).count()
    assert marks >= 1
    assert await board_changes.prune(now=utc_now()) == 0
    pruned = await board_changes.prune(now=utc_now() + timedelta(hours=2))
    assert pruned >= marks and not await BoardChange.exists()
    again = await board_page(rival, BoardFilters())
    assert again is not page and _ids(again) == _ids(page)


async def test_an_offering_reaching_hundreds_of_requests_lists_them_on_its_partners_board_only():
    """Hundreds of requests are matched area by area as arrays (area_candidates.py): a new
    offering's re-match puts them on its partner's board at the next view, a claim takes one off
    every board that listed it, and a board neither touched keeps its page."""
    world = await build_claim_world()
    extra = [await add_household_request(world.left, f"批{number}") for number in range(AREA_SEARCH_FROM)]
    run = await match_requests([request.id for request in extra], notify=False)
    assert run.requests_matched == AREA_SEARCH_FROM and run.matches_stored == 2 * AREA_SEARCH_FROM
    rival, far = await world.rival.principal(), await world.far.principal()
    assert (await board_page(rival, BoardFilters())).total == AREA_SEARCH_FROM + 1

    newcomer = await add_partner("新来服务社", world.left.district, suffix="newcomer")
    far_page = await board_page(far, BoardFilters())
    run = await match_offering(newcomer.offering.id, notify=False)
    assert run.requests_matched == AREA_SEARCH_FROM + 1
    fresh = await board_page(await newcomer.principal(), BoardFilters())
    assert fresh.total == AREA_SEARCH_FROM + 1
    assert await board_page(far, BoardFilters()) is far_page

    await claim_request(rival, extra[0].id)
    after = await board_page(await newcomer.principal(), BoardFilters())
    assert after.total == AREA_SEARCH_FROM and extra[0].id not in _ids(after)
    assert await board_page(far, BoardFilters()) is far_page

    # The offering switched off (no edit stamp): its re-match removes its matches, and the board
    # that listed them (known from the rows removed) is built again, empty.
    kept = await board_page(await newcomer.principal(), BoardFilters())
    assert kept is await board_page(await newcomer.principal(), BoardFilters())
    await Offering.filter(id=newcomer.offering.id).update(active=False)
    await match_offering(newcomer.offering.id, notify=False)
    assert (await board_page(await newcomer.principal(), BoardFilters())).total == 0
    assert await board_page(far, BoardFilters()) is far_page

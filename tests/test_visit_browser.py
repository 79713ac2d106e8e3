"""Headless Chromium at 360 px (tests/test_browser.py's phone): the dispatcher's planner proposes a
slot with HTMX and schedules; the household answers its personal link with the keyboard."""

from __future__ import annotations

from alliance.visits.links import response_token
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD
from tests.test_browser import _fits_the_screen, chromium, module_server, phone, pytestmark  # noqa: F401 (fixtures and marks)
from tests.visits_support import add_volunteer, build_visit_world, window


async def test_the_dispatcher_proposes_the_earliest_slot_and_schedules_on_a_phone(phone):  # noqa: F811
    world = await build_visit_world()
    await add_volunteer(world.partner, "安志愿")
    page = phone
    await page.goto("/login")
    await page.get_by_label("User name").fill(world.claims.home.dispatcher.username)
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.goto(f"/requests/{world.request.id}/schedule")
    assert await _fits_the_screen(page)
    await page.get_by_role("button", name="Propose the earliest slot").click()
    # HTMX swaps the planner in place: the slot's volunteers appear, the best one ticked.
    volunteer = page.get_by_label("安志愿")
    await volunteer.wait_for()
    assert await volunteer.is_checked()
    assert await page.get_by_label("Date").input_value()
    assert await _fits_the_screen(page)
    await page.get_by_role("button", name="Schedule the visit").click()
    await page.wait_for_url("**/visits/*")
    assert "The visit is scheduled." in await page.content()
    assert await _fits_the_screen(page)
    assert await Visit.filter(request_id=world.request.id).count() == 1
    assert page.problems == [], page.problems


async def test_the_household_confirms_through_its_link_with_the_keyboard_on_a_phone(phone):  # noqa: F811
    world = await build_visit_world()
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    page = phone
    await page.goto(f"/visit-response/{response_token(TEST_SECRET, visit)}")
    assert await _fits_the_screen(page)
    assert await page.get_by_label("Another time suits me better. When?").count() == 1
    assert await page.get_by_label("I do not want this visit. Why?").count() == 1
    # Keyboard only: tab to the big confirm button and press Enter.
    confirm = page.get_by_role("button", name="Yes, come at this time")
    for _step in range(40):
        await page.keyboard.press("Tab")
        if await confirm.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("the confirm button is not reachable with Tab")
    await page.keyboard.press("Enter")
    await page.get_by_text("We will come at that time").first.wait_for()
    assert (await Visit.get(id=visit.id)).household_response == "confirmed"
    assert await _fits_the_screen(page)
    assert page.problems == [], page.problems

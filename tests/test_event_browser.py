"""Headless Chromium at 360 px (tests/test_browser.py's phone): a household registers for a course
through its personal link with the keyboard; the partner's attendance list fits the phone."""

from __future__ import annotations

from alliance.events.models import Registration
from alliance.events.registrations import registration_path
from tests.conftest import TEST_SECRET
from tests.events_support import add_trainee, build_event_world, published, start_sessions_now
from tests.factories import PASSWORD
from tests.test_browser import _fits_the_screen, chromium, module_server, phone, pytestmark  # noqa: F401 (fixtures and marks)


async def test_the_household_registers_through_its_link_with_the_keyboard_on_a_phone(phone):  # noqa: F811
    world = await build_event_world()
    household = await add_trainee(world.left, "手机户")
    event = await published(world)
    page = phone
    await page.goto(registration_path(TEST_SECRET, event.id, household.id, None))
    assert await _fits_the_screen(page)
    come = page.get_by_role("button", name="Yes, I will come")
    for _step in range(40):
        await page.keyboard.press("Tab")
        if await come.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("the register button is not reachable with Tab")
    await page.keyboard.press("Enter")
    await page.get_by_text("You are registered.").first.wait_for()  # (also announced in #messages)
    assert (await Registration.get(household_id=household.id)).status == "registered"
    assert await _fits_the_screen(page)
    assert page.problems == [], page.problems


async def test_the_attendance_list_fits_a_phone_and_ticks_with_htmx(phone):  # noqa: F811
    world = await build_event_world()
    household = await add_trainee(world.left, "到场户")
    event = await published(world)
    worker = await world.worker()
    from alliance.events.registrations import register_on_behalf

    await register_on_behalf(worker, household.id, event.id)
    sessions = await start_sessions_now(event)
    page = phone
    await page.goto("/login")
    await page.get_by_label("User name").fill("traindispatch")
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.goto(f"/partner/sessions/{sessions[0].id}")
    assert await _fits_the_screen(page)
    await page.get_by_label("到场户").check()
    await page.get_by_role("button", name="Save ticked attendance").click()
    await page.get_by_text("Attendance recorded: 1.").first.wait_for()  # (also announced in #messages)
    assert await _fits_the_screen(page)
    assert page.problems == [], page.problems

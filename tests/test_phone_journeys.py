"""Every role's main journey on a 360 × 740 phone, by keyboard only, with axe-core (vendored, pinned:
tests/vendor/axe-core-4.10.3) on every page passed: no WCAG 2.2 A/AA violation, no sideways scroll,
focus visible at every step, a header of at most a fifth of the screen (issue 21). One browser for
the module; each role gets its own context (cookies) in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alliance.core import exports
from alliance.core.access import principal_for
from alliance.events.forms import EventForm
from alliance.events.invitations import invite_households
from alliance.events.publishing import publish_event
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Volunteer
from alliance.partners.offerings import OfferingForm, save_offering
from alliance.targets import cockpit  # noqa: F401  (registers the cockpit's export kinds, as the worker does)
from alliance.visits.volunteers import VolunteerForm, update_volunteer
from tests.conftest import TEST_SECRET, start_live_server, stop_live_server
from tests.events_support import session_line
from tests.factories import PASSWORD, build_two_sides
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, pytestmark  # noqa: F401  (skip without chromium)
from tests.test_matching import make_offering

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.10.3" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
HEADER_LIMIT = 148  # a fifth of 740 px


async def check_page(page, where: str) -> None:
    """axe, no horizontal scroll, header height; raises with what failed and where. Waits for the
    page's load and for no HTMX request in flight (conditions, never a fixed quiet time)."""
    await page.wait_for_load_state("load")
    await page.locator(".htmx-request").first.wait_for(state="detached")
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE + "\n;true")
    result = await page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }",
        AXE_TAGS,
    )
    assert result == [], f"{where}: axe violations {json.dumps(result, ensure_ascii=False)}"
    assert await page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), (
        f"{where}: scrolls sideways"
    )
    header = await page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height")
    assert header <= HEADER_LIMIT, f"{where}: header {header} px"


async def focus_is_visible(page) -> bool:
    """The focused element draws an outline (our :focus-visible style) and is not <body>."""
    return await page.evaluate(
        "(() => { const e = document.activeElement; if (!e || e === document.body) return false;"
        " const s = getComputedStyle(e); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()"
    )


async def tab_to(page, predicate_js: str, where: str, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies `predicate_js` (a JS function of the element);
    focus must be visible on it."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"({predicate_js})(document.activeElement)"):
            assert await focus_is_visible(page), f"{where}: focus not visible"
            return
    raise AssertionError(f"{where}: never reached by Tab")


def button(text: str) -> str:
    return f"e => e && e.tagName === 'BUTTON' && e.textContent.trim() === {json.dumps(text)}"


def by_href(path: str) -> str:
    return f"e => e && e.getAttribute && e.getAttribute('href') === {json.dumps(path)}"


CHECKED_LOGIN: list[bool] = []


async def log_in(context, username: str):
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    await page.goto("/login")
    if not CHECKED_LOGIN:  # the same page for every role: axe once
        await check_page(page, "/login")
        CHECKED_LOGIN.append(True)
    # The page's autofocus puts the cursor in the username field (a keyboard user starts typing
    # there); wait for it, since keys typed before it lands are lost on a busy machine.
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'username'")
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state("load")
    try:
        await page.wait_for_url(lambda url: "/login" not in url)
    except Exception as error:  # say why the login page stayed
        said = await page.locator("#login-error").all_inner_texts()
        typed = await page.input_value("#username")
        raise AssertionError(f"{username} stayed on /login: {said}, username field {typed!r}") from error
    return page


async def open_menu_and_go(page, path: str, where: str) -> None:
    """On a phone the menu is behind its disclosure button: open it by keyboard, Tab to the link."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.keyboard.press("Tab")  # skip link
    await tab_to(page, "e => e.id === 'menu-toggle'", f"{where}: menu button")
    await page.keyboard.press("Enter")
    assert await page.locator("#menu-toggle").get_attribute("aria-expanded") == "true"
    await tab_to(page, by_href(path), f"{where}: link {path}")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert path in page.url, f"{where}: went to {page.url}"
    await check_page(page, path)


@pytest.fixture(scope="module")
def module_server(servers, tmp_path_factory):
    """One `alliance serve` for the module (it reads whatever the test wrote to the database)."""
    server = start_live_server(servers, tmp_path_factory.mktemp("phone-server"))
    yield server
    stop_live_server(server)


@pytest.fixture(scope="module")
async def browser(module_server):
    """One Chromium for the module; each role gets its own context (cookies) in it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        browser.base_url = module_server.url
        yield browser
        await browser.close()


async def phone_context(browser):
    return await browser.new_context(
        viewport={"width": 360, "height": 740}, locale="en-US", base_url=browser.base_url
    )


ROLE_PAGES = {
    # role's login: pages reached through the phone menu, by keyboard (after its journey, in the
    # same context: no second login)
    "coordA": ["/households", "/cockpit", "/outbox", "/requests", "/matching/gaps"],
    "workerA": ["/households"],
    "padminA": ["/partner", "/visits", "/partner/events", "/partner/offerings"],
    "volA": ["/volunteer"],
    "houseA": ["/my-household", "/my-household/events"],
    "admin": ["/admin/targets", "/admin/projects", "/admin/partners"],
}


async def walk_role_pages(page, username: str, failures: list[str]) -> None:
    for path in ROLE_PAGES[username]:
        try:
            await open_menu_and_go(page, path, username)
        except AssertionError as error:
            failures.append(str(error))
            await page.goto(path)
    assert page.problems == [], page.problems


async def follow_link(page, predicate_js: str, where: str, limit: int = 80) -> None:
    """Tab to a link and follow it with Enter; the page it opens passes the checks."""
    await tab_to(page, predicate_js, where, limit)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await check_page(page, where)


async def an_event_for(left) -> None:
    """A training course of the left partner at the left household's community, the household with
    an open training request, and the invitation job run (as the worker would): houseA is invited."""
    household = left.household
    await ServiceRequest.create(
        household=household, need_id="VOCATIONAL_TRAINING", active_key=f"{household.id}:VOCATIONAL_TRAINING"
    )
    admin = await principal_for(left.users["partner_admin"])
    offering = await save_offering(
        admin,
        OfferingForm(
            title="家政技能培训",
            need="VOCATIONAL_TRAINING",
            base_lat=str(household.lat),
            base_lon=str(household.lon),
            radius_km="20",
            monthly_capacity="10",
            delivery_mode="venue_event",
        ),
    )
    event = (
        await publish_event(
            admin,
            EventForm(
                offering_id=str(offering.id),
                title="家政技能培训班",
                venue="社区活动中心",
                venue_lat=str(household.lat),
                venue_lon=str(household.lon),
                seats="5",
                sessions=session_line(3, 9),
            ),
        )
    ).event
    assert (await invite_households(event.id, TEST_SECRET)).invited >= 1


async def test_every_role_walks_its_journey_on_a_phone_by_keyboard(browser):
    left, _right, _admin = await build_two_sides()
    await make_offering(left.partner, regions=(left.district,))
    await match_all(notify=False)
    # volA is free every day (set by its partner admin, as on /partner/volunteers): the planner
    # proposes a slot that starts within the day.
    form = VolunteerForm.of(await Volunteer.get(id=left.volunteer.id))
    form.availability = "; ".join(
        f"{day} 00:00-23:59" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    await update_volunteer(await principal_for(left.users["partner_admin"]), left.volunteer.id, form)
    failures: list[str] = []

    # The dispatcher claims a request on the board: focus lands on the changed row, announced.
    context = await phone_context(browser)
    page = await log_in(context, "dispatchA")
    await check_page(page, "dispatcher home")
    await open_menu_and_go(page, "/board", "dispatcher")
    await tab_to(page, button("Claim"), "board: Claim button")
    await page.keyboard.press("Enter")
    await page.locator("tr.claimed").wait_for()
    assert await page.evaluate("document.activeElement.classList.contains('claimed')")
    assert await focus_is_visible(page)
    await page.locator("#messages").get_by_text("Claimed for").wait_for()  # announced
    await check_page(page, "/board after claim")

    # ... and schedules it through the form: its claims, the request's planner, the earliest slot
    # proposed (HTMX), a volunteer ticked with Space, the visit confirmed.
    request_id = (
        await ServiceRequest.filter(household_id=left.household.id).first().values_list("id", flat=True)
    )
    await open_menu_and_go(page, "/board/claims", "dispatcher")
    await follow_link(page, by_href(f"/requests/{request_id}/schedule"), "claims: Schedule a visit")
    await tab_to(page, button("Propose the earliest slot"), "planner: propose")
    await page.keyboard.press("Enter")
    await page.locator("#planner").get_by_text("Earliest slot:").wait_for()
    await check_page(page, "planner, slot proposed")
    await tab_to(page, "e => e.type === 'checkbox' && e.name === 'volunteer_ids'", "planner: volunteer")
    if not await page.evaluate("document.activeElement.checked"):  # the proposed ones come ticked
        await page.keyboard.press("Space")
    assert await page.evaluate("document.activeElement.checked")
    await tab_to(page, button("Schedule the visit"), "planner: schedule")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert re.search(r"/visits/\d+$", page.url), page.url
    await check_page(page, "visit scheduled")
    assert page.problems == [], page.problems
    await context.close()

    # The household confirms the visit from its page, by keyboard.
    context = await phone_context(browser)
    house = await log_in(context, "houseA")
    await check_page(house, "household home")
    await follow_link(
        house, "e => e.tagName === 'A' && /^\\/visit-response\\//.test(e.getAttribute('href'))", "answer link"
    )
    await tab_to(house, button("Yes, come at this time"), "confirm the visit")
    async with house.expect_navigation():
        await house.keyboard.press("Enter")
    await house.get_by_text("Thank you. We will come at that time.").first.wait_for()
    await check_page(house, "visit confirmed")

    # The volunteer checks in at the door (GPS at the household) and out, by keyboard.
    vol_context = await browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="en-US",
        base_url=browser.base_url,
        geolocation={"latitude": left.household.lat, "longitude": left.household.lon, "accuracy": 10},
        permissions=["geolocation"],
    )
    page = await log_in(vol_context, "volA")
    await check_page(page, "volunteer home")
    await follow_link(
        page,
        "e => e.tagName === 'A' && /^\\/volunteer\\/visits\\//.test(e.getAttribute('href'))",
        "door page",
    )
    await tab_to(page, button("Check in here (use my position)"), "check in")
    await page.keyboard.press("Enter")
    await page.get_by_text("Checked in at").first.wait_for()
    await check_page(page, "door page, checked in")
    await tab_to(page, "e => e.id === 'service'", "service delivered")
    await page.keyboard.type("Cleaned the kitchen, cooked lunch")
    await tab_to(page, button("Check out and save"), "check out")
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Check out and save").wait_for(state="detached")
    await check_page(page, "after check-out")
    await walk_role_pages(page, "volA", failures)
    await vol_context.close()

    # The household rates the service it received, by keyboard (arrow keys move within the radios).
    await house.goto("/my-household")
    await check_page(house, "household home, visited")
    await tab_to(house, "e => e.type === 'radio' && e.name === 'rating'", "rating")
    for _ in range(4):
        await house.keyboard.press("ArrowRight")
    assert await house.evaluate("document.activeElement.value") == "5"
    await tab_to(house, button("Send the rating"), "send the rating")
    async with house.expect_navigation():
        await house.keyboard.press("Enter")
    await check_page(house, "household home, rated")
    assert await house.locator("input[name=rating][value='5']").is_checked()

    # ... and registers for a course it is invited to: its events page, the event, "Yes, I will come".
    await an_event_for(left)
    await open_menu_and_go(house, "/my-household/events", "household")
    await follow_link(
        house,
        "e => e.tagName === 'A' && /^\\/event-registration\\//.test(e.getAttribute('href'))",
        "event link",
    )
    await tab_to(house, button("Yes, I will come"), "register")
    async with house.expect_navigation():
        await house.keyboard.press("Enter")
    await house.get_by_role("button", name="I cannot come: give up my place").wait_for()
    await check_page(house, "event, registered")
    await walk_role_pages(house, "houseA", failures)
    assert "Registered" in await house.locator("main").inner_text()
    await context.close()

    # The coordinator reads the cockpit and exports its person-times, by keyboard.
    context = await phone_context(browser)
    page = await log_in(context, "coordA")
    await check_page(page, "coordinator cockpit")
    await tab_to(
        page,
        "e => e.tagName === 'BUTTON' && ((e.form && e.form.getAttribute('action')) || '').startsWith('/cockpit/export.csv')",
        "CSV export",
        200,
    )
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/exports/\d+$"))
    await check_page(page, "export in progress")
    # The worker's job, run here (the live server has no worker); the page's own polling then
    # brings the download link (HX-Refresh), as it would for a user waiting on it.
    await exports.run_export(int(page.url.rsplit("/", 1)[1]))
    await page.wait_for_selector("a[href$='/download']", timeout=20_000)
    await check_page(page, "export ready")
    await tab_to(page, "e => (e.getAttribute('href') || '').endsWith('/download')", "Download", 80)
    async with page.expect_download() as download_info:
        await page.keyboard.press("Enter")
    download = await download_info.value
    assert download.suggested_filename.endswith(".csv")
    await walk_role_pages(page, "coordA", failures)
    await context.close()

    for username in ("workerA", "padminA", "admin"):
        context = await phone_context(browser)
        page = await log_in(context, username)
        try:
            await check_page(page, f"{username} home")
        except AssertionError as error:
            failures.append(str(error))
        await walk_role_pages(page, username, failures)
        await context.close()
    assert failures == [], "\n".join(failures)

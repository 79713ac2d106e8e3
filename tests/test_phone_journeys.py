"""Every role's main journey on a 360 × 740 phone, by keyboard only, with axe-core (vendored, pinned:
tests/vendor/axe-core-4.10.3) on every page passed: no WCAG 2.2 A/AA violation, no sideways scroll,
focus visible at every step, a header of at most a fifth of the screen (issue 21). One browser for
the module; each role gets its own context (cookies) in it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from alliance.core import exports
from alliance.core.access import principal_for
from alliance.core.timeutil import utc_now
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.targets import cockpit  # noqa: F401  (registers the cockpit's export kinds, as the worker does)
from alliance.visits.scheduling import schedule_visit
from tests.factories import PASSWORD, build_two_sides
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, pytestmark  # noqa: F401  (skip without chromium)
from tests.test_matching import make_offering

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.10.3" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
HEADER_LIMIT = 148  # a fifth of 740 px


async def check_page(page, where: str) -> None:
    """axe, no horizontal scroll, header height; raises with what failed and where."""
    await page.wait_for_load_state("networkidle")
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE + "\n;true")
    result = await page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
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


async def log_in(context, username: str):
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    await page.goto("/login")
    await check_page(page, "/login")
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state("load")
    await page.wait_for_url(lambda url: "/login" not in url)
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


@pytest.fixture
async def browser(live_server):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        browser.base_url = live_server.url
        yield browser
        await browser.close()


async def phone_context(browser):
    return await browser.new_context(
        viewport={"width": 360, "height": 740}, locale="en-US", base_url=browser.base_url
    )


ROLE_PAGES = {
    # role's login: pages reached through the phone menu, by keyboard
    "coordA": ["/households", "/cockpit", "/outbox", "/requests", "/matching/gaps"],
    "workerA": ["/households"],
    "padminA": ["/partner", "/visits", "/partner/events", "/partner/offerings"],
    "volA": ["/volunteer"],
    "houseA": ["/my-household", "/my-household/events"],
    "admin": ["/admin/targets", "/admin/projects", "/admin/partners"],
}


async def test_every_role_walks_its_journey_on_a_phone_by_keyboard(browser):
    left, _right, _admin = await build_two_sides()
    await make_offering(left.partner, regions=(left.district,))
    await match_all(notify=False)
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
    await context.close()

    # The dispatcher schedules the claimed request for the volunteer, starting now (the service a
    # dispatcher's scheduling form calls; the form itself is covered by tests/test_visits*).
    request_id = (
        await ServiceRequest.filter(household_id=left.household.id).first().values_list("id", flat=True)
    )
    dispatcher = await principal_for(left.users["dispatcher"])
    start = utc_now() + timedelta(minutes=30)
    await schedule_visit(dispatcher, request_id, start, start + timedelta(hours=1), [left.volunteer.id])

    # The volunteer checks in at the door (GPS at the household) and out, by keyboard.
    context = await browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="en-US",
        base_url=browser.base_url,
        geolocation={"latitude": left.household.lat, "longitude": left.household.lon, "accuracy": 10},
        permissions=["geolocation"],
    )
    page = await log_in(context, "volA")
    await check_page(page, "volunteer home")
    await tab_to(
        page,
        "e => e.tagName === 'A' && /^\\/volunteer\\/visits\\//.test(e.getAttribute('href'))",
        "visit link",
    )
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await check_page(page, "door page")
    await tab_to(page, button("Check in here (use my position)"), "check in")
    await page.keyboard.press("Enter")
    await page.get_by_text("Checked in at").wait_for()
    await check_page(page, "door page, checked in")
    await tab_to(page, "e => e.id === 'service'", "service delivered")
    await page.keyboard.type("Cleaned the kitchen, cooked lunch")
    await tab_to(page, button("Check out and save"), "check out")
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Check out and save").wait_for(state="detached")
    await check_page(page, "after check-out")
    assert page.problems == [], page.problems
    await context.close()

    # The household rates the service it received, by keyboard (arrow keys move within the radios).
    context = await phone_context(browser)
    page = await log_in(context, "houseA")
    await check_page(page, "household home")
    await tab_to(page, "e => e.type === 'radio' && e.name === 'rating'", "rating")
    for _ in range(4):
        await page.keyboard.press("ArrowRight")
    assert await page.evaluate("document.activeElement.value") == "5"
    await tab_to(page, button("Send the rating"), "send the rating")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await check_page(page, "household home, rated")
    assert await page.locator("input[name=rating][value='5']").is_checked()
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
    await page.wait_for_load_state()
    await check_page(page, "export ready")
    await tab_to(page, "e => (e.getAttribute('href') || '').endsWith('/download')", "Download", 80)
    async with page.expect_download() as download_info:
        await page.keyboard.press("Enter")
    download = await download_info.value
    assert download.suggested_filename.endswith(".csv")
    await context.close()

    for username, paths in ROLE_PAGES.items():
        context = await phone_context(browser)
        page = await log_in(context, username)
        try:
            await check_page(page, f"{username} home")
        except AssertionError as error:
            failures.append(str(error))
        for path in paths:
            try:
                await open_menu_and_go(page, path, username)
            except AssertionError as error:
                failures.append(str(error))
                await page.goto(path)
        assert page.problems == [], page.problems
        await context.close()
    assert failures == [], "\n".join(failures)

"""Headless Chromium on a phone-sized screen: keyboard-only login, an HTMX filter, no overflow, no
CSP or script errors. Chromium is Debian's (`make browser-deps`); Playwright only drives it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import build_two_sides

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs Debian's chromium for the browser tests: run `make browser-deps`")
    pytestmark = [
        pytest.mark.browser,
        pytest.mark.skip(reason="no /usr/bin/chromium: run `make browser-deps`"),
    ]


@pytest.fixture(scope="module")
def module_server(servers, tmp_path_factory):
    """One `alliance serve` for the module: it reads whatever each test wrote to the database."""
    from tests.conftest import start_live_server, stop_live_server

    server = start_live_server(servers, tmp_path_factory.mktemp("browser-server"))
    yield server
    stop_live_server(server)


@pytest.fixture(scope="module")
async def chromium(module_server):
    """One Chromium for the module; every test gets its own context (cookies) in it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        browser.base_url = module_server.url
        yield browser
        await browser.close()


@pytest.fixture
async def phone(chromium):
    context = await chromium.new_context(
        viewport={"width": 360, "height": 740}, locale="en-US", base_url=chromium.base_url
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("response", lambda response: response.status >= 400 and problems.append(response.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    await context.close()


async def _fits_the_screen(page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_coordinator_logs_in_with_the_keyboard_and_filters_households_on_a_phone(phone):
    await build_two_sides()
    page = phone
    await page.goto("/login")
    # The login field has focus; labels name both fields.
    assert await page.evaluate("document.activeElement.id") == "username"
    assert await page.get_by_label("User name").count() == 1
    await page.keyboard.type("coordA")
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct-horse-1")
    await page.keyboard.press("Enter")
    # A coordinator's home is the cockpit of their region (charts included, within 360 px).
    await page.wait_for_url("**/cockpit")
    assert await _fits_the_screen(page)
    assert await page.locator("svg[role=img]").count() >= 1
    # The household list of their region is one link away.
    # On a phone the navigation is behind the Menu disclosure button.
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("link", name="Households").first.click()
    await page.wait_for_url("**/households")
    assert await _fits_the_screen(page)

    assert "张A" in await page.content()
    assert await _fits_the_screen(page)
    # The search is an HTMX form: results change without a full page load, and work by keyboard.
    search = page.get_by_label("Name, phone or full ID number")
    await search.fill("nobody-has-this-name")
    await search.press("Enter")
    # (a locator wait, not wait_for_function: that evaluates a string, which our CSP forbids)
    await page.locator("#results").get_by_text("张A").wait_for(state="detached")
    assert page.problems == [], page.problems


async def test_language_switch_turns_the_page_chinese(phone):
    page = phone
    await page.goto("/login")
    assert await page.locator("html").get_attribute("lang") == "en"
    await page.get_by_role("button", name="中文").click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.problems == [], page.problems

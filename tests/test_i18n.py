"""gettext: the catalogs are complete, compiled and extracted, and pages speak the reader's language."""

from __future__ import annotations

from alliance.core import i18n
from alliance.core.labels import label
from tests.factories import build_two_sides, csrf_from, login
from tools import i18n as catalogs


def _listing(messages: set) -> str:
    return "\n".join(sorted(map(str, messages)))


def test_the_template_holds_every_string_marked_in_the_source():
    in_source = catalogs.msgids(catalogs.extract())
    in_template = catalogs.msgids(catalogs.read_catalog(catalogs.TEMPLATE))
    assert in_source - in_template == set(), (
        "marked for translation but not extracted; run `make messages`:\n" + _listing(in_source - in_template)
    )
    # Entries no longer in the source are harmless (`make messages` drops them); work in progress
    # elsewhere in the tree may add strings first, so only missing ones fail.


def test_every_catalog_holds_every_message_of_the_template():
    in_template = catalogs.msgids(catalogs.read_catalog(catalogs.TEMPLATE))
    for language in catalogs.LANGUAGES:
        catalog = catalogs.read_catalog(catalogs.po_path(language), language)
        missing = in_template - catalogs.msgids(catalog)
        assert not missing, f"{language} lacks (run `make messages`):\n" + _listing(missing)


def test_every_message_has_a_chinese_translation_that_is_not_fuzzy():
    catalog = catalogs.read_catalog(catalogs.po_path("zh_CN"), "zh_CN")
    assert catalog.num_plurals == 1
    untranslated = catalogs.untranslated(catalog)
    assert not untranslated, (
        "translate these in alliance/locale/zh_CN/LC_MESSAGES/messages.po:\n" + "\n".join(untranslated)
    )


def test_translations_keep_exactly_the_placeholders_of_their_msgid():
    for language in catalogs.LANGUAGES:
        catalog = catalogs.read_catalog(catalogs.po_path(language), language)
        assert catalogs.placeholder_problems(catalog) == []


def test_committed_mo_files_hold_what_the_po_files_compile_to():
    for language in catalogs.LANGUAGES:
        committed = catalogs.mo_messages(catalogs.mo_path(language).read_bytes())
        assert committed == catalogs.mo_messages(catalogs.compiled(language)), (
            f"{catalogs.mo_path(language)} is stale; run `make messages`"
        )


def test_chinese_readers_get_chinese_and_english_readers_the_source_text():
    with i18n.language("zh_CN"):
        assert i18n.gettext("Log in") == "登录"
        assert label("SUBSISTENCE_ALLOWANCE") == "低保"
        assert i18n.ngettext("%(num)d household", "%(num)d households", 3) == "共 %(num)d 户"
    with i18n.language("en"):
        assert i18n.gettext("Log in") == "Log in"
        assert label("SUBSISTENCE_ALLOWANCE") == "Subsistence allowance (dibao)"
        # An untranslated plural must fall back to the msgid by n, never to an empty string.
        assert i18n.ngettext("%(num)d household", "%(num)d households", 1) == "%(num)d household"
        assert i18n.ngettext("%(num)d household", "%(num)d households", 2) == "%(num)d households"


async def test_login_page_follows_accept_language(client):
    chinese = await client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert chinese.status_code == 200
    assert '<html lang="zh-CN">' in chinese.text
    assert "<h1>登录</h1>" in chinese.text and "用户名" in chinese.text
    english = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text
    assert "<h1>Log in</h1>" in english.text and "登录" not in english.text


async def test_language_switch_changes_the_next_page_and_beats_accept_language(client):
    page = await client.get("/login")
    assert "<h1>Log in</h1>" in page.text  # the test settings' default language is en
    switched = await client.post(
        "/language", data={"language": "zh_CN", "next": "/login", "csrf_token": csrf_from(page.text)}
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    chinese = await client.get("/login", headers={"Accept-Language": "en"})
    assert "<h1>登录</h1>" in chinese.text and 'aria-current="true">中文' in chinese.text
    back = await client.post(
        "/language", data={"language": "en", "next": "/login", "csrf_token": csrf_from(chinese.text)}
    )
    assert back.status_code == 303
    assert "<h1>Log in</h1>" in (await client.get("/login", headers={"Accept-Language": "zh-CN"})).text


async def test_coordinator_list_shows_codes_and_counts_in_the_readers_language(client):
    await build_two_sides()
    client.headers["Accept-Language"] = "zh-CN"
    await login(client, "coordA")
    chinese = await client.get("/households")
    assert chinese.status_code == 200
    assert "预警困难家庭" in chinese.text and "独居老人" in chinese.text and "居家照护" in chinese.text
    assert "共 1 户" in chinese.text
    english = await client.get("/households", headers={"Accept-Language": "en"})
    assert "Elderly living alone" in english.text and "1 household<" in english.text

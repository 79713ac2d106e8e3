"""The coordinator's household list and detail."""

from __future__ import annotations

from alliance.households.models import Household
from alliance.households.selectors import PAGE_SIZE
from tests.factories import build_two_sides, csrf_from, login


async def search(client, headers=None, **fields):
    """The households search, as its form sends it: by POST, so no term lands in an address."""
    return await client.post(
        "/households",
        data={**fields, "csrf_token": csrf_from((await client.get("/households")).text)},
        headers=headers,
    )


async def _more_households(community: str, count: int, name: str = "李") -> None:
    await Household.bulk_create(
        [
            Household(
                external_id=f"MORE-{community}-{index:04d}", head_name=f"{name}{index}", region_id=community
            )
            for index in range(count)
        ]
    )


async def test_search_finds_chinese_names_and_external_ids(client):
    left, _right, _admin = await build_two_sides()
    await _more_households(left.community, 3, name="欧阳")
    await login(client, "coordA")
    by_name = await search(client, q="欧阳")
    assert by_name.status_code == 200
    assert (
        "欧阳0" in by_name.text and "欧阳2" in by_name.text and left.household.head_name not in by_name.text
    )
    by_id = await search(client, q="EXT-A")
    assert left.household.head_name in by_id.text and "欧阳0" not in by_id.text


async def test_a_search_term_in_the_address_is_not_a_search(client):
    left, _right, _admin = await build_two_sides()
    await _more_households(left.community, 3, name="欧阳")
    await login(client, "coordA")
    page = await client.get("/households", params={"q": "欧阳"})
    # The term is ignored (the whole list shows) and nothing is kept as a search.
    assert left.household.head_name in page.text and "欧阳0" in page.text
    assert 'method="post" action="/households"' in page.text


async def test_search_results_are_paged_by_post(client):
    left, _right, _admin = await build_two_sides()
    await _more_households(left.community, PAGE_SIZE + 5)
    await login(client, "coordA")
    first = await search(client, q="李")
    assert 'name="page" value="2"' in first.text and "/households?q=" not in first.text
    second = await search(client, q="李", page="2")
    names_first = {f"李{index}" for index in range(PAGE_SIZE + 5) if f">李{index}<" in first.text}
    names_second = {f"李{index}" for index in range(PAGE_SIZE + 5) if f">李{index}<" in second.text}
    assert len(names_first) == PAGE_SIZE and len(names_second) == 5
    assert names_first.isdisjoint(names_second)


async def test_filters_by_flag_need_and_region(client):
    left, _right, _admin = await build_two_sides()
    await _more_households(left.community, 2)
    await login(client, "coordA")
    flagged = await client.get("/households", params={"flag": "ELDERLY_ALONE"})
    assert left.household.head_name in flagged.text and "李0" not in flagged.text
    needing = await client.get("/households", params={"need": "HOME_CARE"})
    assert left.household.head_name in needing.text and "李1" not in needing.text
    outside = await client.get("/households", params={"region": "330328"})
    assert left.household.head_name not in outside.text and "张B" not in outside.text


async def test_htmx_request_gets_only_the_results_block(client):
    await build_two_sides()
    await login(client, "coordA")
    fragment = await search(client, q="张", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<table>" in fragment.text
    assert "HX-Request" in fragment.headers["vary"]
    full = await search(client, q="张")
    assert "<html" in full.text


async def test_list_is_paged(client):
    left, _right, _admin = await build_two_sides()
    await _more_households(left.community, PAGE_SIZE + 5)
    await login(client, "coordA")
    first = await client.get("/households")
    second = await client.get("/households", params={"page": "2"})
    names_first = {f"李{index}" for index in range(PAGE_SIZE + 5) if f">李{index}<" in first.text}
    names_second = {f"李{index}" for index in range(PAGE_SIZE + 5) if f">李{index}<" in second.text}
    assert len(names_first) == PAGE_SIZE
    assert names_first.isdisjoint(names_second)
    assert len(names_first | names_second) + 1 == PAGE_SIZE + 6  # plus the side's own household


async def test_detail_masks_the_id_number_and_shows_the_region_trail(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "workerA")
    page = await client.get(f"/households/{left.household.id}")
    assert page.status_code == 200
    assert "3303************34" in page.text
    assert "鹿城区" in page.text and "鹿城区一社区" in page.text

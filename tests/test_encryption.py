"""Personal data at rest: ID numbers and phones are encrypted, found through blind indexes, and
survive a key rotation; a database dump alone shows neither (docs/security.md, "Data at rest")."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import Tortoise

from alliance.core import crypto, encrypted_columns
from alliance.core.access import principal_for
from alliance.core.i18n import language
from alliance.core.models import AuditEntry
from alliance.households.models import Household, IntakeRejectedRow
from alliance.households.selectors import HouseholdFilters, find_by_id_number, find_by_phone, list_households
from alliance.partners.models import Volunteer
from tests.factories import build_two_sides, csrf_from, login
from tests.intake_support import LUCHENG, build_city, import_json, person


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keyring of the test's own, so rotating it touches no other test."""
    path = tmp_path / "data.keys"
    monkeypatch.delenv("ALLIANCE_DATA_KEYS", raising=False)
    monkeypatch.setenv("ALLIANCE_DATA_KEYS_FILE", str(path))
    crypto.keyring(force=True)
    yield path
    monkeypatch.undo()
    crypto.keyring(force=True)


async def _raw(sql: str) -> list[dict]:
    return await Tortoise.get_connection("default").execute_query_dict(sql)


async def test_the_keyring_file_is_made_owner_only_with_a_data_key_and_an_index_key(keyring_file):
    assert keyring_file.exists()
    assert keyring_file.stat().st_mode & 0o777 == 0o600
    ring = crypto.keyring()
    assert set(ring.data_keys) == {1} and set(ring.index_keys) == {1}


async def test_ciphertext_is_authenticated_and_bound_to_its_column(keyring_file):
    sealed = crypto.encrypt("household.phone", "13812345678")
    assert sealed.startswith("enc1:1:") and "13812345678" not in sealed
    assert crypto.decrypt("household.phone", sealed) == "13812345678"
    # The same phone twice gives two ciphertexts (random nonce), one blind index.
    assert crypto.encrypt("household.phone", "13812345678") != sealed
    assert crypto.phone_index("138 1234 5678") == crypto.phone_index("+86 13812345678")
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        crypto.decrypt("volunteer.phone", sealed)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(Exception):  # noqa: B017
        crypto.decrypt("household.phone", tampered)


async def test_a_household_reads_back_in_clear_but_is_stored_encrypted_and_indexed(keyring_file):
    await build_city()
    await import_json([person(1)])
    household = await Household.get(external_id="WZ-000001")
    assert household.id_number == person(1)["id_number"]
    assert household.phone == person(1)["phone"]
    (row,) = await _raw('SELECT * FROM "household"')
    assert "id_number" not in row and "phone" not in row
    assert row["id_number_enc"].startswith("enc1:") and row["phone_enc"].startswith("enc1:")
    assert row["id_number_index"] == crypto.id_number_index(person(1)["id_number"])
    assert await find_by_id_number(person(1)["id_number"]).count() == 1
    assert await find_by_phone("138-0000-0001").count() == 1
    assert await find_by_phone("1380000000").count() == 0  # exact match only
    with pytest.raises(crypto.FilterOnEncryptedField):
        await Household.filter(id_number=person(1)["id_number"]).count()


async def test_a_database_dump_reveals_no_id_number_or_phone(keyring_file, servers):
    await build_city()
    people = [person(index) for index in range(1, 6)]
    bad = person(9, id_number="330302195000000000")  # refused: its row is kept to be fixed
    await import_json([*people, bad])
    assert await IntakeRejectedRow.all().count() == 1
    assert (await IntakeRejectedRow.first()).record["id_number"] == "330302195000000000"
    await Volunteer.create(name="志愿者", phone="13998765432", region_id=LUCHENG)
    secrets = [value for record in (*people, bad) for value in (record["id_number"], record["phone"])]
    secrets.append("13998765432")
    # Updated rows too: a second import that changes a phone.
    await import_json([person(1, phone="13700000001")])
    secrets.append("13700000001")
    if servers.database_url.startswith("sqlite"):
        dump = b""
        database = Path(servers.database_url.removeprefix("sqlite://"))
        for path in database.parent.glob(database.name + "*"):
            dump += path.read_bytes()
        text = dump.decode("utf-8", errors="replace")
    else:
        parts = []
        for table in ("household", "intake_record", "intake_rejected_row", "volunteer", "notification"):
            parts += [str(row) for row in await _raw(f'SELECT * FROM "{table}"')]
        text = "\n".join(parts)
    for value in secrets:
        assert value not in text, f"{value} is in the dump"
        assert value.replace("-", "") not in text


async def test_rows_under_the_old_and_new_data_key_both_decrypt_during_and_after_a_rotation(keyring_file):
    await build_city()
    await import_json([person(index) for index in range(1, 8)])
    connection = Tortoise.get_connection("default")
    # Stopped after one batch of two rows per column: as if the command had been killed there.
    partial = await encrypted_columns.rotate_data_key(connection, batch_size=2, max_batches=1)
    assert partial.new_key == 2 and partial.remaining > 0
    keys = {
        crypto.key_id_of(row["id_number_enc"])
        for row in await _raw('SELECT "id_number_enc" FROM "household"')
    }
    assert keys == {1, 2}
    for index in range(1, 8):
        household = await Household.get(external_id=f"WZ-{index:06d}")
        assert household.id_number == person(index)["id_number"]
        assert household.phone == person(index)["phone"]
    # A new row mid-rotation goes under the new key; lookups still work for both.
    await import_json([person(8)])
    assert await find_by_phone(person(1)["phone"]).count() == 1
    # Run again: it resumes (no third key), finishes and retires key 1.
    report = await encrypted_columns.rotate_data_key(connection, batch_size=2)
    assert report.new_key == 2 and report.remaining == 0 and report.retired == [1]
    ring = crypto.keyring(force=True)
    assert set(ring.data_keys) == {2} and ring.retired == [1]
    keys = {
        crypto.key_id_of(row["id_number_enc"])
        for row in await _raw('SELECT "id_number_enc" FROM "household"')
    }
    assert keys == {2}
    for index in range(1, 9):
        assert (await Household.get(external_id=f"WZ-{index:06d}")).id_number == person(index)["id_number"]


async def test_an_index_key_rotation_keeps_search_and_duplicate_marks_working(keyring_file):
    await build_city()
    await import_json([person(1)])
    before = (await Household.get(external_id="WZ-000001")).id_number_index
    report = await encrypted_columns.rotate_index_key(Tortoise.get_connection("default"))
    assert report.retired == [1]
    household = await Household.get(external_id="WZ-000001")
    assert household.id_number_index != before
    assert await find_by_id_number(person(1)["id_number"]).count() == 1
    # The same ID number under another external id is still found as a duplicate.
    await import_json([person(2, id_number=person(1)["id_number"])])
    assert (await Household.get(external_id="WZ-000002")).possible_duplicate_of_id == household.id  # type: ignore[attr-defined]
    await import_json([person(3, phone=person(1)["phone"], address=person(1)["address"])])
    assert (await Household.get(external_id="WZ-000003")).possible_duplicate_of_id == household.id  # type: ignore[attr-defined]


async def test_staff_find_households_by_exact_phone_or_id_number_in_their_scope_and_each_search_is_audited():
    left, right, _admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    with language("en"):
        by_phone = await list_households(coordinator, HouseholdFilters(search="138 1234 5678"))
        by_id = await list_households(coordinator, HouseholdFilters(search="330302195001011234"))
        partial = await list_households(coordinator, HouseholdFilters(search="3303021950"))
    # Both sides' households share the phone and ID number; the coordinator sees only their own.
    assert [row.id for row in by_phone.rows] == [left.household.id]
    assert [row.id for row in by_id.rows] == [left.household.id]
    assert partial.total == 0


async def test_the_households_page_searches_by_phone_masks_and_audits(client):
    left, right, _admin = await build_two_sides()
    await login(client, "workerA")
    page = await client.post(
        "/households",
        data={"q": "+86 13812345678", "csrf_token": csrf_from((await client.get("/households")).text)},
    )
    assert page.status_code == 200
    assert left.household.head_name in page.text and right.household.head_name not in page.text
    # The list shows what it showed before (no phone or ID number column); only the search box
    # echoes what the worker typed.
    assert "330302195001011234" not in page.text
    assert "13812345678" not in page.text.split('id="results"')[1]
    assert "Name, phone or full ID number" in page.text or "姓名、电话或完整身份证号" in page.text
    entry = await AuditEntry.filter(action="households.search").order_by("-id").first()
    assert entry is not None and entry.details["by"] == "phone" and entry.details["found"] == 1
    assert "13812345678" not in str(entry.details)
    # A search that finds nobody is kept too.
    await client.post(
        "/households",
        data={"q": "13900000000", "csrf_token": csrf_from((await client.get("/households")).text)},
    )
    assert await AuditEntry.filter(action="households.search").count() == 2


async def test_a_partner_cannot_search_households(client):
    await build_two_sides()
    await login(client, "padminA")
    page = await client.post(
        "/households",
        data={"q": "13812345678", "csrf_token": csrf_from((await client.get("/households")).text)},
    )
    assert page.status_code in (403, 404)


def test_the_blind_index_hash_is_hmac_sha256_for_any_key_length():
    import hashlib
    import hmac

    from alliance.core.crypto import _hmac

    for key in (b"k" * 32, bytes(range(64)), bytes(range(100)), b""):
        for purpose, value in (
            ("id_number", "33030219800101001X"),
            ("phone", "13812345678"),
            ("p", "某地址"),
        ):
            expected = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
            assert _hmac(key, purpose, value) == expected

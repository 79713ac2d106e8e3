"""The import service: idempotent upsert by external id, flags and requests, crash and re-run."""

from __future__ import annotations

import asyncio
import codecs
import gc
import json
import weakref
from datetime import timedelta

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from alliance.core.codes import BatchStatus, RequestStatus
from alliance.core.i18n import language
from alliance.core.timeutil import utc_now
from alliance.households import intake
from alliance.households.intake_format import read_file
from alliance.households.models import (
    Flag,
    Household,
    IntakeBatch,
    IntakeBatchRegion,
    IntakeRecord,
    IntakeRejectedRow,
)
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Partner
from tests.intake_support import (
    LUCHENG_COMMUNITY,
    LUCHENG_COMMUNITY_NO_POINT,
    WENCHENG_COMMUNITY,
    build_city,
    import_json,
    person,
    write_csv,
)


@pytest.fixture(autouse=True)
async def city():
    await build_city()
    with language("en"):
        yield


async def needs_of(external_id: str, status: RequestStatus | None = None) -> set[str]:
    household = await Household.get(external_id=external_id)
    query = ServiceRequest.filter(household_id=household.id)
    query = query.filter(status=status) if status else query.filter(active_key__isnull=False)
    return {str(need) for need in await query.values_list("need_id", flat=True)}


async def test_new_households_get_flags_requests_and_their_region_centre():
    result = await import_json([person(1, flags=["ELDERLY_ALONE", "SUBSISTENCE_ALLOWANCE"])])
    assert (result.created, result.updated, result.unchanged, result.rejected) == (1, 0, 0, [])
    household = await Household.get(external_id="WZ-000001")
    assert household.region_id == LUCHENG_COMMUNITY  # type: ignore[attr-defined]
    assert (household.lat, household.lon, household.location_precision) == (28.021, 120.661, "region")
    flags = await Flag.filter(household_id=household.id).values_list("code", "active", "source")
    assert sorted(flags) == [("ELDERLY_ALONE", True, "file"), ("SUBSISTENCE_ALLOWANCE", True, "file")]
    # TELECOM_DISCOUNT comes from both flags but is requested once.
    assert await needs_of("WZ-000001") == {"HOME_CARE", "HEALTH_SUPPORT", "TELECOM_DISCOUNT"}
    assert result.requests_created == 3
    assert result.geocoding_pending == 1


async def test_the_same_data_sent_twice_changes_nothing():
    records = [
        person(1),
        person(2, flags=["DISABILITY@2024-03-01"], needs=["LEGAL_AID"], lat=28.0, lon=120.6),
    ]
    await import_json(records)
    before = await Household.all().order_by("id").values()
    requests_before = await ServiceRequest.all().count()
    again = await import_json(records)
    assert (again.created, again.updated, again.unchanged, again.requests_created) == (0, 0, 2, 0)
    assert await Household.all().order_by("id").values() == before
    assert await ServiceRequest.all().count() == requests_before
    assert await Flag.all().count() == 2


async def test_changed_fields_update_the_household():
    await import_json([person(1)])
    result = await import_json(
        [person(1, head_name="王大", member_count=3, phone="0577-88123456", contact_preference="VOICE")]
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    household = await Household.get(external_id="WZ-000001")
    assert (household.head_name, household.member_count, household.phone, household.contact_preference) == (
        "王大",
        3,
        "0577-88123456",
        "VOICE",
    )
    assert await Household.all().count() == 1


async def test_a_flag_no_longer_sent_is_deactivated_and_its_open_request_cancelled():
    await import_json([person(1, flags=["ELDERLY_ALONE", "UNEMPLOYED"])])
    household = await Household.get(external_id="WZ-000001")
    partner = await Partner.create(
        name="伙伴", kind="service_provider", status="approved", region_id="330302"
    )
    # A partner already works on JOB_PLACEMENT: dropping the flag must not pull it from under them.
    await ServiceRequest.filter(household_id=household.id, need_id="JOB_PLACEMENT").update(
        status=RequestStatus.CLAIMED, claimed_by_id=partner.id
    )
    result = await import_json([person(1, flags=["ELDERLY_ALONE"])])
    assert result.updated == 1
    flag = await Flag.get(household_id=household.id, code="UNEMPLOYED")
    assert flag.active is False and flag.deactivated_at is not None
    assert await Flag.filter(household_id=household.id).count() == 2
    assert await needs_of("WZ-000001", RequestStatus.CANCELLED) == {"VOCATIONAL_TRAINING"}
    assert await needs_of("WZ-000001") == {"HOME_CARE", "HEALTH_SUPPORT", "TELECOM_DISCOUNT", "JOB_PLACEMENT"}


async def test_a_flag_sent_again_is_reactivated_with_a_new_request():
    await import_json([person(1, flags=["ELDERLY_ALONE", "UNEMPLOYED"])])
    await import_json([person(1, flags=["ELDERLY_ALONE"])])
    result = await import_json([person(1, flags=["ELDERLY_ALONE", "UNEMPLOYED@2026-01-10"])])
    household = await Household.get(external_id="WZ-000001")
    flag = await Flag.get(household_id=household.id, code="UNEMPLOYED")
    assert flag.active and flag.deactivated_at is None
    assert await Flag.filter(household_id=household.id).count() == 2
    assert result.requests_created == 2
    assert {"JOB_PLACEMENT", "VOCATIONAL_TRAINING"} <= await needs_of("WZ-000001")


async def test_explicit_needs_are_added_to_the_derived_ones():
    await import_json([person(1, flags=["LOW_INCOME"], needs=["LEGAL_AID", "TELECOM_DISCOUNT"])])
    assert await needs_of("WZ-000001") == {"TELECOM_DISCOUNT", "LEGAL_AID"}
    assert await ServiceRequest.all().count() == 2


async def test_a_completed_request_is_not_reopened_by_an_unrelated_change():
    await import_json([person(1, flags=["LOW_INCOME"])])
    await ServiceRequest.all().update(status=RequestStatus.COMPLETED, active_key=None)
    result = await import_json([person(1, flags=["LOW_INCOME"], phone="13900000000")])
    assert result.updated == 1 and result.requests_created == 0
    assert await ServiceRequest.all().count() == 1


async def test_priority_weighs_vulnerability_and_waiting_time():
    today = utc_now().date()
    ten_weeks_ago = (today - timedelta(weeks=10)).isoformat()
    await import_json(
        [
            person(1, flags=["LOW_INCOME"]),
            person(2, flags=["LOW_INCOME"], accessibility=["BEDRIDDEN"]),
            person(3, flags=[f"LOW_INCOME@{ten_weeks_ago}"]),
        ]
    )
    priorities = {}
    for number in (1, 2, 3):
        household = await Household.get(external_id=f"WZ-{number:06d}")
        priorities[number] = (await ServiceRequest.get(household_id=household.id)).priority
    # LOW_INCOME 8 + two members 2; bedridden +20; ten weeks of waiting +10 (give or take a day).
    assert priorities[1] == 10
    assert priorities[2] == 30
    assert 19 <= priorities[3] <= 20


async def test_feed_coordinates_win_and_a_region_without_a_point_borrows_its_parents():
    await import_json(
        [
            person(1, lat=28.03, lon=120.67),
            person(2, region_code=LUCHENG_COMMUNITY_NO_POINT),
            person(3, address=""),
        ]
    )
    exact = await Household.get(external_id="WZ-000001")
    borrowed = await Household.get(external_id="WZ-000002")
    no_address = await Household.get(external_id="WZ-000003")
    assert (exact.lat, exact.lon, exact.location_precision) == (28.03, 120.67, "exact")
    assert (borrowed.lat, borrowed.lon, borrowed.location_precision) == (28.02, 120.66, "region")
    assert await IntakeRecord.get(household_id=exact.id).values_list("geocode_pending", flat=True) is False
    assert (
        await IntakeRecord.get(household_id=no_address.id).values_list("geocode_pending", flat=True) is False
    )
    assert await IntakeRecord.get(household_id=borrowed.id).values_list("geocode_pending", flat=True) is True


async def test_the_same_external_id_twice_in_a_batch_refuses_both_rows_naming_each_other():
    result = await import_json([person(1), person(2), person(1, head_name="别人")])
    assert result.created == 1
    refused = {row.row: row for row in result.rejected}
    assert set(refused) == {1, 3}
    assert "row(s) 3" in refused[1].errors[0].message
    assert "row(s) 1" in refused[3].errors[0].message
    assert not await Household.exists(external_id="WZ-000001")


async def test_good_rows_next_to_bad_ones_are_imported():
    result = await import_json([person(1), person(2, phone="123"), person(3), "not an object"])
    assert result.created == 2
    assert [(row.row, row.external_id, row.errors[0].field) for row in result.rejected] == [
        (2, "WZ-000002", "phone"),
        (4, "", "record"),
    ]


async def test_gbk_and_bom_files_import_the_same_households(tmp_path):
    records = [person(1, head_name="张三", address="鹿城区五马街1号"), person(2, head_name="李四")]
    gbk = read_file(write_csv(tmp_path / "gbk.csv", records, encoding="gbk"))
    bom_path = tmp_path / "bom.csv"
    bom_path.write_bytes(codecs.BOM_UTF8 + (tmp_path / "gbk.csv").read_bytes().decode("gbk").encode())
    first = await intake.import_households(gbk, filename="gbk.csv")
    second = await intake.import_households(read_file(bom_path), filename="bom.csv")
    assert (first.created, second.unchanged) == (2, 2)
    assert (await Household.get(external_id="WZ-000001")).head_name == "张三"


async def test_a_crash_mid_file_keeps_earlier_chunks_and_a_rerun_finishes_without_duplicates(tmp_path):
    records = read_file(write_csv(tmp_path / "big.csv", [person(number) for number in range(1, 11)]))

    def crash_after_two_chunks(done: int, total: int) -> None:
        if done >= 6:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        await intake.import_households(records, chunk_size=3, on_progress=crash_after_two_chunks)
    assert await Household.all().count() == 6
    crashed = await IntakeBatch.get(id=1)
    assert crashed.status == BatchStatus.FAILED and crashed.created == 6

    rerun = await intake.import_households(records, chunk_size=3)
    assert (rerun.created, rerun.unchanged, rerun.rejected) == (4, 6, [])
    assert await Household.all().count() == 10
    assert await ServiceRequest.all().count() == 30
    assert await ServiceRequest.filter(active_key__isnull=False).count() == 30


async def test_the_garbage_collector_rests_during_an_import_collects_each_chunk_and_wakes_after(tmp_path):
    """Its automatic passes cost a quarter of an import's CPU: off while imports run, a pass over the
    young objects once a chunk instead, and on again when the last import ends, even by a crash."""
    assert gc.isenabled()
    records = read_file(write_csv(tmp_path / "ten.csv", [person(number) for number in range(1, 11)]))
    enabled: list[bool] = []
    cycles: list[weakref.ref] = []
    collected: list[list[bool]] = []

    class Cycle:
        pass

    def garbage_with_a_cycle(done: int, total: int) -> None:
        enabled.append(gc.isenabled())
        collected.append([cycle() is None for cycle in cycles])
        made = Cycle()
        made.itself = made  # type: ignore[attr-defined]
        cycles.append(weakref.ref(made))

    result = await intake.import_households(records, chunk_size=2, on_progress=garbage_with_a_cycle)
    assert result.created == 10 and enabled == [False] * 5
    # By the last chunk, the passes had collected the cycles made once the first two were written.
    assert collected[-1][:2] == [True, True]
    assert gc.isenabled()

    def crash(done: int, total: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        await intake.import_households(records, chunk_size=3, on_progress=crash)
    assert gc.isenabled()

    # Two at once: on again only when both have ended.
    first_done = asyncio.Event()
    while_the_second_runs: list[bool] = []

    async def second_waits_for_the_first(done: int, total: int) -> None:
        if not while_the_second_runs:
            await first_done.wait()
            while_the_second_runs.append(gc.isenabled())

    async def first() -> None:
        await import_json([person(number) for number in range(11, 17)], chunk_size=3)
        first_done.set()

    await asyncio.gather(
        first(),
        import_json(
            [person(number) for number in range(21, 27)], chunk_size=3, on_progress=second_waits_for_the_first
        ),
    )
    assert while_the_second_runs == [False]
    assert gc.isenabled()


async def test_a_chunk_the_database_refuses_is_retried_row_by_row(monkeypatch):
    write_households = intake._write_households

    async def refuse_row_three(connection, chunk, *args, **kwargs):
        # Refused after its rows are written: the transaction must take all of them back.
        await write_households(connection, chunk, *args, **kwargs)
        if any(plan.row.external_id == "WZ-000003" for plan in chunk.plans):
            raise IntegrityError("simulated constraint violation")

    monkeypatch.setattr(intake, "_write_households", refuse_row_three)
    result = await import_json([person(number) for number in range(1, 6)])
    assert result.created == 4
    assert [(row.row, row.errors[0].field) for row in result.rejected] == [(3, "record")]
    # Nothing of row 3 was half-written.
    assert not await Household.exists(external_id="WZ-000003")
    assert await Flag.all().count() == 4


async def test_a_refused_chunk_retried_row_by_row_keeps_its_rows_ids_before_the_next_chunks(monkeypatch):
    # On PostgreSQL the next chunk draws its ids while this one is written; the retried rows keep
    # the ids drawn for them, so ids still follow the file and "newer" duplicates stay the later rows.
    write_households = intake._write_households

    async def refuse_the_second_chunk(connection, chunk, *args, **kwargs):
        await write_households(connection, chunk, *args, **kwargs)
        if any(plan.row.external_id == "WZ-000003" for plan in chunk.plans):
            raise IntegrityError("simulated constraint violation")

    monkeypatch.setattr(intake, "_write_households", refuse_the_second_chunk)
    records = [person(number) for number in range(1, 8)]
    records[6] = person(7, id_number=records[3]["id_number"])
    result = await import_json(records, chunk_size=2)
    assert (result.created, [row.row for row in result.rejected]) == (6, [3])
    ids = dict(await Household.all().values_list("external_id", "id"))
    in_file_order = [ids[f"WZ-{number:06d}"] for number in (1, 2, 4, 5, 6, 7)]
    assert in_file_order == sorted(in_file_order)
    assert (await Household.get(external_id="WZ-000007")).possible_duplicate_of_id == ids["WZ-000004"]  # type: ignore[attr-defined]


async def test_a_duplicate_in_a_later_chunk_points_at_the_household_of_an_earlier_one():
    records = [person(number) for number in range(1, 7)]
    records[5] = person(6, id_number=records[0]["id_number"])
    records[4] = person(5, phone=records[1]["phone"], address=records[1]["address"])
    await import_json(records, chunk_size=2)
    marks = dict(await Household.all().values_list("external_id", "possible_duplicate_of__external_id"))
    assert marks == {
        "WZ-000001": None,
        "WZ-000002": None,
        "WZ-000003": None,
        "WZ-000004": None,
        "WZ-000005": "WZ-000002",
        "WZ-000006": "WZ-000001",
    }


async def test_an_import_inside_a_callers_transaction_writes_its_chunks_one_after_the_other():
    async with in_transaction():
        result = await import_json([person(number) for number in range(1, 8)], chunk_size=3)
    assert (result.created, result.rejected) == (7, [])
    assert await ServiceRequest.filter(active_key__isnull=False).count() == 21
    assert (await IntakeBatch.get(id=result.batch)).created == 7


async def test_a_batch_records_its_counts_per_region_and_the_refused_rows():
    result = await import_json(
        [
            person(1),
            person(2, region_code=WENCHENG_COMMUNITY),
            person(3, region_code="404"),
            person(4, phone="1"),
        ]
    )
    batch = await IntakeBatch.get(id=result.batch)
    assert (batch.status, batch.total_rows, batch.created, batch.rejected) == (BatchStatus.FINISHED, 4, 2, 2)
    slices = {
        item["region_id"]: (item["created"], item["rejected"])
        for item in await IntakeBatchRegion.filter(batch_id=batch.id).values(
            "region_id", "created", "rejected"
        )
    }
    assert slices == {LUCHENG_COMMUNITY: (1, 1), WENCHENG_COMMUNITY: (1, 0), None: (0, 1)}
    stored = await IntakeRejectedRow.filter(batch_id=batch.id).order_by("row")
    assert [row.row for row in stored] == [3, 4]
    assert stored[1].record["phone"] == "1" and stored[1].errors[0]["field"] == "phone"


async def demo_city_regions() -> None:
    """The demo city's codes the example files in fixtures/intake use."""
    from alliance.core.codes import RegionLevel
    from alliance.core.regions import add_region

    await add_region("330302006", "五马街道", RegionLevel.TOWN, "330302", lat=28.02, lon=120.65)
    await add_region("330302006001", "墨池社区", RegionLevel.COMMUNITY, "330302006", lat=28.021, lon=120.651)
    await add_region("330302006002", "公园社区", RegionLevel.COMMUNITY, "330302006", lat=28.019, lon=120.653)
    await add_region("330328100", "大峃镇", RegionLevel.TOWN, "330328", lat=27.79, lon=120.09)
    await add_region("330328100001", "大峃社区", RegionLevel.COMMUNITY, "330328100", lat=27.791, lon=120.092)


async def test_the_example_files_import_cleanly():
    from pathlib import Path

    from alliance.households.intake_format import records_from_json

    await demo_city_regions()
    examples = Path(__file__).resolve().parent.parent / "fixtures" / "intake"
    for name, created in (("households.csv", 5), ("households_gbk.csv", 3), ("households.jsonl", 3)):
        result = await intake.import_households(read_file(examples / name), filename=name)
        assert (result.created, result.rejected) == (created, []), (name, result.rejected)
    api = await intake.import_households(records_from_json((examples / "api_batch.json").read_bytes()))
    assert (api.created, api.rejected) == (1, [])


async def test_the_example_error_file_shows_one_rule_a_row():
    from pathlib import Path

    await demo_city_regions()
    examples = Path(__file__).resolve().parent.parent / "fixtures" / "intake"
    result = await intake.import_households(read_file(examples / "households_with_errors.csv"))
    fields = {row.external_id: sorted({error.field for error in row.errors}) for row in result.rejected}
    assert fields == {
        "WZ-ERR-001": ["region_code"],
        "WZ-ERR-002": ["lat", "lon"],
        "WZ-ERR-003": ["lat"],
        "WZ-ERR-004": ["id_number"],
        "WZ-ERR-005": ["id_number"],
        "WZ-ERR-006": ["phone"],
        "WZ-ERR-007": ["flags"],
        "WZ-ERR-008": ["needs"],
        "WZ-ERR-009": ["accessibility"],
        "WZ-ERR-010": ["contact_preference"],
        "WZ-ERR-011": ["member_count"],
        "WZ-ERR-012": ["external_id"],
    }
    assert len(result.rejected) == 13 and result.created == 1


async def test_two_imports_of_the_same_households_at_once_create_each_once():
    records = [person(number, flags=["ELDERLY_ALONE"]) for number in range(1, 41)]
    first, second = await asyncio.gather(
        import_json(records, chunk_size=10), import_json(records, chunk_size=10)
    )
    assert first.created + second.created == 40
    assert first.unchanged + second.unchanged == 40
    assert first.rejected == second.rejected == []
    assert await Household.all().count() == 40
    assert await ServiceRequest.all().count() == 120


async def test_a_result_keeps_the_first_refused_rows_and_the_json_answer_still_lists_every_one(
    monkeypatch, capsys
):
    from web.cli_intake import _print_json_result

    monkeypatch.setattr(intake, "KEPT_ROWS", 2)
    sent = [person(number, phone="12" if number % 2 else None) for number in range(1, 8)]
    result = await import_json(sent, chunk_size=3)
    # Four rows refused (1, 3, 5, 7): the result holds two of them, without the records as sent.
    assert (result.created, result.rejected_count) == (3, 4)
    assert [row.row for row in result.rejected] == [1, 3] and result.rejected[0].record == {}
    assert not result.complete
    assert await IntakeRejectedRow.filter(batch_id=result.batch).count() == 4
    batch = await IntakeBatch.get(id=result.batch)
    assert (batch.rejected, batch.total_rows) == (4, 7)

    await _print_json_result(result)
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == [
        "batch",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "conflicts",
        "requests_created",
    ]
    assert [row["row"] for row in answer["rejected"]] == [1, 3, 5, 7]
    assert answer["rejected"][3] == {
        "row": 7,
        "external_id": "WZ-000007",
        "errors": [error.as_dict() for error in result.rejected[0].errors],
    }
    assert (answer["created"], answer["conflicts"]) == (3, [])


async def test_on_postgresql_the_tables_an_import_grows_are_analysed_as_it_doubles_them(monkeypatch):
    connection = IntakeBatch._meta.db
    if connection.capabilities.dialect != "postgres":
        pytest.skip("planner statistics are PostgreSQL's")

    async def analyses() -> int:
        rows = await connection.execute_query_dict(
            'SELECT sum("analyze_count") AS "count" FROM "pg_stat_user_tables" WHERE "relname" = \'household\''
        )
        return int(rows[0]["count"] or 0)

    before = await analyses()
    monkeypatch.setattr(intake, "ANALYZE_FROM", 2)
    await import_json([person(number) for number in range(1, 9)], chunk_size=2)
    # After 2, 4 and 8 rows (not after 6): the planner sees the grown table, not an empty one.
    assert await analyses() - before == 3

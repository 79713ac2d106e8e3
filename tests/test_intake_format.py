"""The intake format: reading CSV (UTF-8, BOM, GBK), JSON Lines and JSON arrays, and every row rule."""

from __future__ import annotations

import codecs
import json
import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from alliance.core.i18n import language
from alliance.households.intake_format import (
    FieldError,
    HouseholdRow,
    RawRecord,
    UnreadableFile,
    check_record,
    normalise_phone,
    read_file,
    records_from_json,
)
from tests.intake_support import LUCHENG_COMMUNITY, csv_text, id_number, person

TODAY = date(2026, 6, 1)
REGIONS = {LUCHENG_COMMUNITY, "330302", "330302001"}


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


def check(**overrides) -> HouseholdRow | list[FieldError]:
    return check_record(RawRecord(1, person(1, **overrides)), REGIONS, TODAY)


def errors_of(**overrides) -> dict[str, str]:
    result = check(**overrides)
    assert isinstance(result, list), f"expected errors, got {result}"
    return {error.field: error.message for error in result}


def test_a_good_record_becomes_a_clean_row():
    row = check(
        phone="+86 138-0000-0001",
        flags=["elderly_alone", "DISABILITY@2024-03-01"],
        accessibility="blind;DEAF",
    )
    assert isinstance(row, HouseholdRow)
    assert row.phone == "13800000001"
    assert row.flags == {"ELDERLY_ALONE": None, "DISABILITY": date(2024, 3, 1)}
    assert row.accessibility == ("BLIND", "DEAF")
    assert row.contact_preference == "SMS"


def test_unknown_region_code_is_refused():
    assert "Unknown region code 999999" in errors_of(region_code="999999")["region_code"]


def test_missing_region_code_is_refused():
    assert "region_code" in errors_of(region_code="")


def test_coordinates_outside_china_are_refused():
    found = errors_of(lat=60.0, lon=120.0)
    assert "outside China" in found["lat"] and "lon" not in found


def test_swapped_coordinates_are_named_as_swapped():
    found = errors_of(lat=120.65, lon=28.01)
    assert "lat/lon swapped?" in found["lat"]
    assert "lat/lon swapped?" in found["lon"]


def test_coordinates_come_in_pairs_and_as_numbers():
    assert "both" in errors_of(lat=28.0, lon=None)["lon"]
    assert "number" in errors_of(lat="north", lon=120.0)["lat"]


def test_id_number_must_have_18_characters():
    assert "18 characters" in errors_of(id_number="33030219500101123")["id_number"]


def test_id_number_must_pass_the_gb11643_check_digit():
    good = id_number("33030219500101123")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert "check digit" in errors_of(id_number=wrong)["id_number"]
    assert isinstance(check(id_number=good.lower()), HouseholdRow)


def test_id_number_with_an_impossible_birth_date_is_refused_with_the_date_named():
    # 30 February, with a correct check digit: the check digit alone let this through.
    problem = errors_of(id_number=id_number("33030219900230123"))["id_number"]
    assert "birth date" in problem and "19900230" in problem


def test_id_number_with_an_unknown_county_code_is_refused_with_the_code_named():
    problem = errors_of(id_number=id_number("99999919900101123"))["id_number"]
    assert "county code" in problem and "999999" in problem


def test_id_number_of_an_elder_born_before_their_county_code_existed_is_accepted():
    # Lucheng's code dates from 1984; people born there in 1950 hold numbers starting 330302.
    assert isinstance(check(id_number=id_number("33030219500101123")), HouseholdRow)


def test_id_number_with_x_check_character_is_accepted():
    # 11010519491231002X is the standard's own example.
    assert check(id_number="11010519491231002x").id_number == "11010519491231002X"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("13812345678", "13812345678"),
        ("0577-88123456", "0577-88123456"),
        ("057788123456", "0577-88123456"),
        ("(010) 12345678", "010-12345678"),
        ("0086 13812345678", "13812345678"),
    ],
)
def test_mobiles_and_area_code_landlines_are_accepted(sent, kept):
    assert normalise_phone(sent) == kept


@pytest.mark.parametrize("phone", ["12345", "23812345678", "88123456", "1381234567", "0577-123"])
def test_other_phone_numbers_are_refused(phone):
    assert "11-digit mobile" in errors_of(phone=phone)["phone"]


def test_unknown_flag_codes_are_refused_with_the_known_ones_listed():
    message = errors_of(flags=["ELDERLY_ALONE", "RICH"])["flags"]
    assert "RICH" in message and "MEDICAL_EXPENSE" in message


def test_flag_dates_must_be_real_and_not_in_the_future():
    assert "YYYY-MM-DD" in errors_of(flags=["DISABILITY@2024-02-30"])["flags"]
    assert "future" in errors_of(flags=["DISABILITY@2030-01-01"])["flags"]


def test_unknown_need_accessibility_and_contact_codes_are_refused():
    assert "HAIRCUT" in errors_of(needs=["HAIRCUT"])["needs"]
    assert "TALL" in errors_of(accessibility="TALL")["accessibility"]
    assert "PIGEON" in errors_of(contact_preference="PIGEON")["contact_preference"]


@pytest.mark.parametrize("count", [0, -1, "two", "2.5", True, 100, None])
def test_member_count_must_be_a_positive_integer(count):
    assert "member_count" in errors_of(member_count=count)


def test_all_errors_of_a_row_are_reported_at_once():
    found = errors_of(region_code="1", phone="1", id_number="1", member_count=0)
    assert set(found) == {"region_code", "phone", "id_number", "member_count"}


def test_unknown_json_fields_are_refused():
    assert "colour" in errors_of(colour="blue")["record"]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_in_utf8_with_and_without_bom_reads_the_same(tmp_path):
    text = csv_text([person(1), person(2)])
    plain = read_file(_write(tmp_path, "plain.csv", text.encode()))
    bom = read_file(_write(tmp_path, "bom.csv", codecs.BOM_UTF8 + text.encode()))
    assert [record.values for record in plain] == [record.values for record in bom]
    assert (plain.encoding, bom.encoding) == ("utf-8", "utf-8-sig")
    assert next(iter(bom)).values["external_id"] == "WZ-000001"


def test_csv_in_gbk_is_detected(tmp_path):
    text = csv_text([person(1, head_name="张三", address="鹿城区五马街1号")])
    records = read_file(_write(tmp_path, "gbk.csv", text.encode("gbk")))
    assert records.encoding == "gbk"
    assert next(iter(records)).values["head_name"] == "张三"


def test_csv_without_a_required_column_cannot_be_read(tmp_path):
    text = csv_text([person(1)], columns=("external_id", "head_name", "region_code", "flags"))
    with pytest.raises(UnreadableFile, match="member_count"):
        read_file(_write(tmp_path, "short.csv", text.encode()))


def test_csv_with_an_unknown_column_cannot_be_read(tmp_path):
    text = "external_id,head_name,region_code,member_count,flags,colour\nA,B,1,1,,red\n"
    with pytest.raises(UnreadableFile, match="colour"):
        read_file(_write(tmp_path, "extra.csv", text.encode()))


def test_empty_and_binary_files_cannot_be_read(tmp_path):
    with pytest.raises(UnreadableFile):
        read_file(_write(tmp_path, "empty.csv", b""))
    with pytest.raises(UnreadableFile):
        read_file(_write(tmp_path, "utf16.csv", codecs.BOM_UTF16_LE + "a,b".encode("utf-16-le")))
    with pytest.raises(UnreadableFile):
        read_file(tmp_path / "missing.csv")


def test_csv_rows_are_numbered_from_one_without_the_header_and_blank_lines(tmp_path):
    text = csv_text([person(1), person(2)]).replace("\n", "\n\n", 1)
    rows = [record.row for record in read_file(_write(tmp_path, "gaps.csv", text.encode()))]
    assert rows == [1, 2]


def test_csv_lists_are_semicolon_separated(tmp_path):
    text = csv_text([person(1, flags=["ELDERLY_ALONE", "DISABILITY@2024-01-01"])])
    record = next(iter(read_file(_write(tmp_path, "lists.csv", text.encode()))))
    row = check_record(record, REGIONS, TODAY)
    assert isinstance(row, HouseholdRow) and set(row.flags) == {"ELDERLY_ALONE", "DISABILITY"}


def test_json_lines_with_a_broken_line_refuse_only_that_line(tmp_path):
    lines = [json.dumps(person(1)), "{not json", json.dumps(person(3)), "[1, 2]"]
    records = list(read_file(_write(tmp_path, "rows.jsonl", "\n".join(lines).encode())))
    assert [record.row for record in records] == [1, 2, 3, 4]
    assert records[1].problem and records[3].problem and records[0].problem is None


def test_api_body_must_be_a_json_array_of_at_most_10000_records():
    with pytest.raises(UnreadableFile, match="JSON"):
        records_from_json(b"{oops")
    with pytest.raises(UnreadableFile, match="array"):
        records_from_json(b'{"external_id": "A"}')
    with pytest.raises(UnreadableFile, match="at most 10000"):
        records_from_json(json.dumps([{}] * 10_001).encode())
    assert len(list(records_from_json(json.dumps([person(1)]).encode()))) == 1


def _file_of(tmp_path: Path, rows: int, repeated: int = 0) -> Path:
    """`rows` households, the last `repeated` of them sending an earlier row's external id again."""
    records = [person(number) for number in range(1, rows + 1)]
    for position in range(repeated):
        records[rows - 1 - position]["external_id"] = records[position]["external_id"]
    return _write(tmp_path, f"{rows}.csv", csv_text(records).encode())


def _reading_peak(path: Path) -> tuple[int, dict[str, list[int]], int]:
    """The most memory Python held while an import's passes read the file: repeated ids, then every
    record (as import_households reads them before checking each)."""
    from alliance.households.intake import _repeated_external_ids

    tracemalloc.start()
    try:
        records = read_file(path)
        repeated, total = _repeated_external_ids(records)
        checked = sum(1 for _record in records)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert checked == total
    return peak, repeated, total


def test_reading_a_file_takes_the_same_memory_for_ten_times_the_rows(tmp_path):
    small_peak, small_repeated, small_total = _reading_peak(_file_of(tmp_path, 1_000, repeated=2))
    large_peak, large_repeated, large_total = _reading_peak(_file_of(tmp_path, 10_000, repeated=2))
    assert (small_total, large_total) == (1_000, 10_000)
    # Both rows of a repeated id are named, found through the hashes.
    assert small_repeated == {"WZ-000001": [1, 1_000], "WZ-000002": [2, 999]}
    assert large_repeated == {"WZ-000001": [1, 10_000], "WZ-000002": [2, 9_999]}
    # 9,000 more rows (1.6 MB more CSV): the hashes grow by 8 bytes a row (and their sorted copy);
    # holding the file's text (the reading before) or a dict of its ids would add megabytes.
    assert large_peak - small_peak < 500_000, (small_peak, large_peak)

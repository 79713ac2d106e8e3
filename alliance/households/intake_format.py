"""The intake format: reading what the assistance system sends (CSV in UTF-8 with or without a BOM
or in GBK, JSON Lines, a JSON array) and checking each record into a clean `HouseholdRow` or a list
of field-level errors. Pure functions, no database: the caller passes the known region codes.

docs/intake.md describes the format for integrators; keep the two in step.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from stdnum import numdb
from stdnum.cn import ric

from alliance.core.codes import Accessibility, ContactPreference, FlagCode, NeedCode
from alliance.core.errors import AllianceError
from alliance.core.i18n import gettext as _

FIELDS = (
    "external_id",
    "head_name",
    "id_number",
    "phone",
    "address",
    "region_code",
    "lat",
    "lon",
    "member_count",
    "flags",
    "needs",
    "accessibility",
    "contact_preference",
)
REQUIRED_COLUMNS = ("external_id", "head_name", "region_code", "member_count", "flags")
LIST_FIELDS = ("flags", "needs", "accessibility")
MAX_API_RECORDS = 10_000
MAX_MEMBERS = 99

# China's extent (WGS84). A point outside is a typing error; inside when swapped, a column mix-up.
LAT_RANGE = (18.0, 54.0)
LON_RANGE = (73.0, 135.0)

ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area codes: 010 and 02x have three digits and 8-digit numbers; the others four digits and 7 or 8.
LANDLINE_SHORT_AREA = re.compile(r"^(0[12]\d)(\d{8})$")
LANDLINE_LONG_AREA = re.compile(r"^(0[3-9]\d{2})(\d{7,8})$")
LIST_SEPARATORS = re.compile(r"[;；]")

_FLAG_CODES = frozenset(code.value for code in FlagCode)
_NEED_CODES = frozenset(code.value for code in NeedCode)
_ACCESSIBILITY_CODES = frozenset(code.value for code in Accessibility)
_CONTACT_CODES = frozenset(code.value for code in ContactPreference)
_NEED_LIST = [code.value for code in NeedCode]
_ACCESSIBILITY_LIST = [code.value for code in Accessibility]
_FLAG_LIST = [code.value for code in FlagCode]


class UnreadableFile(AllianceError):
    """The file or body cannot be read as records at all (exit code 2, HTTP 400)."""


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(slots=True)
class RawRecord:
    """One record as sent, before checking. `problem` is set when it is not even an object."""

    row: int
    values: dict[str, Any]
    problem: str | None = None

    @property
    def external_id(self) -> str:
        return _text(self.values.get("external_id"))[:64]

    def as_text(self) -> dict[str, str]:
        """The record as CSV cells, for the rejected-rows download."""
        cells = {}
        for name in FIELDS:
            value = self.values.get(name)
            cells[name] = ";".join(_text(item) for item in value) if isinstance(value, list) else _text(value)
        return cells


@dataclass(slots=True)
class HouseholdRow:
    """A checked, normalised record: codes upper-case, phone and ID number in one spelling."""

    row: int
    external_id: str
    head_name: str
    id_number: str | None
    phone: str | None
    address: str
    region_code: str
    lat: float | None
    lon: float | None
    member_count: int
    flags: dict[str, date | None]
    needs: tuple[str, ...]
    accessibility: tuple[str, ...]
    contact_preference: str
    raw: RawRecord | None = field(default=None, repr=False)


@dataclass
class RecordSet:
    """Records of one file or body, readable more than once (a first pass finds repeated ids). A file
    is read from its path on each pass, a row at a time, so memory does not grow with its size."""

    format: str
    encoding: str = "utf-8"
    text: str = ""
    items: list[Any] | None = None
    path: Path | None = None

    def __iter__(self) -> Iterator[RawRecord]:
        if self.format == "csv":
            with self._lines() as lines:
                yield from _csv_records(lines)
        elif self.format == "jsonl":
            with self._lines() as lines:
                yield from _jsonl_records(lines)
        else:
            for row, item in enumerate(self.items or [], start=1):
                yield _object_record(row, item)

    def external_ids(self) -> Iterator[tuple[int, str | None]]:
        """(row, external id) of every record, None for a record that is not even an object; for
        CSV without building the records (the first pass of an import, over a million rows)."""
        if self.format != "csv":
            for record in self:
                yield record.row, None if record.problem else record.external_id
            return
        with self._lines() as lines:
            reader = csv.reader(lines)
            header = [cell.strip().lower() for cell in next(reader)]
            width, row = len(header), 0
            position = header.index("external_id") if "external_id" in header else width
            for cells in reader:
                joined = "".join(cells)
                if not joined.strip():
                    continue
                row += 1
                if "\x00" in joined or len(cells) > width:
                    yield row, None
                else:
                    yield row, cells[position].strip()[:64] if position < len(cells) else ""

    @contextmanager
    def _lines(self) -> Iterator[TextIO]:
        if self.path is None:
            yield io.StringIO(self.text, newline="" if self.format == "csv" else None)
            return
        with _open_text(self.path, self.encoding, as_csv=self.format == "csv") as handle:
            yield handle


# --- reading ---------------------------------------------------------------------------------

# A file is checked for its encoding in blocks of this size, never whole.
READ_BLOCK = 1 << 16
_PYTHON_CODECS = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030"}


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a government export: UTF-8 (a BOM is dropped), else GBK (read as GB 18030, its superset)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile(_("The file is UTF-16. Save it as CSV in UTF-8 or GBK."))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            _("The file is neither UTF-8 nor GBK text (byte {position}).").format(position=error.start)
        ) from error


def _decodes(path: Path, codec: str, skip: int = 0) -> int | None:
    """None when the whole file decodes with `codec`, else the offset of the first byte that does not."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset = skip
    with path.open("rb") as handle:
        handle.seek(skip)
        while True:
            block = handle.read(READ_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                return offset + error.start
            if not block:
                return None
            offset += len(block)


def file_encoding(path: Path) -> str:
    """`decode_text`'s choice for a file, read a block at a time: "utf-8-sig", "utf-8" or "gbk"."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile(_("The file is UTF-16. Save it as CSV in UTF-8 or GBK."))
    if head.startswith(codecs.BOM_UTF8):
        position = _decodes(path, "utf-8", skip=len(codecs.BOM_UTF8))
        if position is None:
            return "utf-8-sig"
    elif _decodes(path, "utf-8") is None:
        return "utf-8"
    else:
        position = _decodes(path, "gb18030")
        if position is None:
            return "gbk"
    raise UnreadableFile(
        _("The file is neither UTF-8 nor GBK text (byte {position}).").format(position=position)
    )


@contextmanager
def _open_text(path: Path, encoding: str, as_csv: bool) -> Iterator[TextIO]:
    # CSV: newline="" so that a line break inside a quoted value stays in the value (the csv module's rule).
    try:
        handle = path.open(encoding=_PYTHON_CODECS.get(encoding, encoding), newline="" if as_csv else None)
    except OSError as error:
        raise UnreadableFile(
            _("Cannot read {path}: {reason}").format(path=path, reason=error.strerror)
        ) from error
    with handle:
        yield handle


def read_file(path: Path) -> RecordSet:
    """CSV, JSON Lines (.jsonl, .ndjson) or a JSON array (.json); the content decides when the
    extension does not. CSV and JSON Lines are read from the file on each pass, a row at a time
    (a province sends a million rows); a JSON array is read whole."""
    try:
        encoding = file_encoding(path)
    except OSError as error:
        raise UnreadableFile(
            _("Cannot read {path}: {reason}").format(path=path, reason=error.strerror)
        ) from error
    suffix = path.suffix.lower()
    with _open_text(path, encoding, as_csv=True) as handle:
        first = ""
        while not first and (block := handle.read(4096)):
            first = block.lstrip()[:1]
        if suffix in (".jsonl", ".ndjson") or (suffix != ".json" and first == "{"):
            return RecordSet(format="jsonl", encoding=encoding, path=path)
        if suffix == ".json" or first == "[":
            handle.seek(0)
            return records_from_json_text(handle.read(), limit=None)
        handle.seek(0)
        _check_csv_header(next(csv.reader(handle), None))
    return RecordSet(format="csv", encoding=encoding, path=path)


def records_from_json(body: bytes, limit: int | None = MAX_API_RECORDS) -> RecordSet:
    """The API's body: a JSON array of objects in UTF-8."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(_("The body is not UTF-8.")) from error
    return records_from_json_text(text, limit)


def records_from_json_text(text: str, limit: int | None) -> RecordSet:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableFile(
            _("Not valid JSON (line {line}, column {column}): {reason}").format(
                line=error.lineno, column=error.colno, reason=error.msg
            )
        ) from error
    if not isinstance(items, list):
        raise UnreadableFile(_("Expected a JSON array of household objects."))
    if limit is not None and len(items) > limit:
        raise UnreadableFile(
            _("Too many records: {count}; send at most {limit} in one request.").format(
                count=len(items), limit=limit
            )
        )
    return RecordSet(format="json", items=items)


def _check_csv_header(header: list[str] | None) -> None:
    if not header or not any(cell.strip() for cell in header):
        raise UnreadableFile(_("The file is empty: expected a header row naming the columns."))
    columns = [cell.strip().lower() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise UnreadableFile(_("Missing column(s): {names}.").format(names=", ".join(missing)))
    unknown = [name for name in columns if name not in FIELDS]
    if unknown:
        raise UnreadableFile(
            _("Unknown column(s): {names}. The columns are: {expected}.").format(
                names=", ".join(unknown), expected=", ".join(FIELDS)
            )
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise UnreadableFile(_("Repeated column(s): {names}.").format(names=", ".join(repeated)))


def _csv_records(lines: Iterable[str]) -> Iterator[RawRecord]:
    reader = csv.reader(lines)
    header = [cell.strip().lower() for cell in next(reader)]
    width = len(header)
    row = 0
    for cells in reader:
        joined = "".join(cells)
        if not joined.strip():
            continue
        row += 1
        values: dict[Any, Any] = dict(zip(header, cells, strict=False))
        nul = "\x00" in joined
        if nul:
            values, nul = _without_nul(values)
        if nul:
            yield RawRecord(row, values, _nul_problem())
            continue
        if len(cells) > width:
            yield RawRecord(
                row,
                values,
                _(
                    "{count} values in a row with {width} columns (a comma inside a value needs quotes)."
                ).format(count=len(cells), width=width),
            )
            continue
        yield RawRecord(row, values)


def _jsonl_records(lines: Iterable[str]) -> Iterator[RawRecord]:
    row = 0
    for line in lines:
        if not line.strip():
            continue
        row += 1
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            yield RawRecord(row, {}, _("Not valid JSON: {reason}").format(reason=error.msg))
            continue
        yield _object_record(row, item)


def _object_record(row: int, item: Any) -> RawRecord:
    if not isinstance(item, dict):
        return RawRecord(row, {}, _("Each record must be a JSON object."))
    values, nul = _without_nul(item)
    return RawRecord(row, values, _nul_problem() if nul else None)


def _nul_problem() -> str:
    return _("A value holds a NUL character (U+0000), which no field may hold.")


def _without_nul(values: dict[Any, Any]) -> tuple[dict[Any, Any], bool]:
    """The record with every NUL character (which PostgreSQL text cannot hold, and no field needs)
    replaced by U+FFFD, keys included, and whether there was one: such a record is refused whole,
    and what is kept of it for the rejected-rows report is storable."""
    found = False

    def clean(value: Any) -> Any:
        nonlocal found
        if isinstance(value, str):
            if "\x00" in value:
                found = True
                return value.replace("\x00", "\ufffd")
            return value
        if isinstance(value, list):
            return [clean(item) for item in value]
        if isinstance(value, dict):
            return {clean(key): clean(item) for key, item in value.items()}
        return value

    cleaned = clean(values)
    return cleaned, found


# --- checking --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def id_check_character(first17: str) -> str:
    """The check character of a resident ID number from its first 17 digits (ISO 7064 MOD 11-2)."""
    return ric.calc_check_digit(first17 + "0")


@functools.lru_cache(maxsize=8192)
def _known_region_code(area: str) -> bool:
    # Any county code GB/T 2260 has ever listed. Not python-stdnum's stricter "listed in the year of
    # birth": numbers were issued from 1984 under the codes of that time, so someone born in 1950 in
    # Lucheng (a code since 1984) holds a real number that check would refuse.
    return any("county" in part for _prefix, part in numdb.get("cn/loc").info(area))


def id_number_error(id_number: str) -> str | None:
    """GB 11643 through python-stdnum's `cn.ric`: 18 characters, 17 digits and a check character
    (digit or X), a real birth date, and a county code that exists."""
    if len(id_number) != 18:
        return _("An ID number has 18 characters; this one has {count}.").format(count=len(id_number))
    if not ID_SHAPE.match(id_number):
        return _("An ID number is 17 digits followed by a digit or X.")
    # Already compact (the shape above): neither ric.compact nor ric.get_birth_date, which cleans the
    # number again (a fifth of the import's checking); the same date test as get_birth_date's.
    if ric.calc_check_digit(id_number) != id_number[17]:
        return _("The check digit does not match (GB 11643): a digit was probably mistyped.")
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return _(
            "Characters 7 to 14 of an ID number are the birth date; {digits} is not a real date."
        ).format(digits=id_number[6:14])
    if not _known_region_code(id_number[:6]):
        return _("The first six digits of an ID number are a county code; {code} is not one.").format(
            code=id_number[:6]
        )
    return None


def normalise_phone(phone: str) -> str | None:
    """An 11-digit mobile ("13812345678") or an area-code landline ("0577-88123456"); None if neither."""
    compact = re.sub(r"[\s()\-]", "", phone)
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
    if MOBILE.match(compact):
        return compact
    for pattern in (LANDLINE_SHORT_AREA, LANDLINE_LONG_AREA):
        found = pattern.match(compact)
        if found:
            return f"{found.group(1)}-{found.group(2)}"
    return None


def _codes(value: Any) -> tuple[list[str], bool]:
    """A list of codes from a JSON list or a ;-separated string. The flag says whether the shape was right."""
    if value is None:
        return [], True
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            return [], False
        items = value
    elif isinstance(value, str):
        items = LIST_SEPARATORS.split(value)
    else:
        return [], False
    return [item.strip().upper() for item in items if item.strip()], True


def _coordinate(value: Any, name: str, errors: list[FieldError]) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        errors.append(FieldError(name, _("Enter a number in degrees, e.g. 27.99.")))
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.append(FieldError(name, _("Enter a number in degrees, e.g. 27.99.")))
        return None
    if not math.isfinite(number):
        errors.append(FieldError(name, _("Enter a number in degrees, e.g. 27.99.")))
        return None
    return number


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _check_coordinates(lat: float | None, lon: float | None, errors: list[FieldError]) -> None:
    if lat is None and lon is None:
        return
    if lat is None or lon is None:
        errors.append(FieldError("lon" if lon is None else "lat", _("Give both lat and lon, or neither.")))
        return
    lat_ok, lon_ok = _in_range(lat, LAT_RANGE), _in_range(lon, LON_RANGE)
    if lat_ok and lon_ok:
        return
    if _in_range(lon, LAT_RANGE) and _in_range(lat, LON_RANGE):
        message = _("lat {lat}, lon {lon} is outside China; lat/lon swapped? Swapped, it would be inside.")
        errors.append(FieldError("lat", message.format(lat=lat, lon=lon)))
        errors.append(FieldError("lon", message.format(lat=lat, lon=lon)))
        return
    if not lat_ok:
        errors.append(FieldError("lat", _("Latitude {value} is outside China (18 to 54).").format(value=lat)))
    if not lon_ok:
        errors.append(
            FieldError("lon", _("Longitude {value} is outside China (73 to 135).").format(value=lon))
        )


def member_count_of(value: Any, errors: list[FieldError]) -> int:
    text = _text(value)
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_MEMBERS:
        errors.append(
            FieldError(
                "member_count",
                _("The number of members must be a whole number from 1 to {most}.").format(most=MAX_MEMBERS),
            )
        )
        return 0
    return int(text)


def _flags(value: Any, today: date, errors: list[FieldError]) -> dict[str, date | None]:
    items, shaped = _codes(value)
    if not shaped:
        errors.append(FieldError("flags", _("Flags are a list of codes, ;-separated in CSV.")))
        return {}
    flags: dict[str, date | None] = {}
    unknown: list[str] = []
    for item in items:
        code, _separator, when = item.partition("@")
        code = code.strip()
        if code not in _FLAG_CODES:
            unknown.append(code)
            continue
        detected: date | None = None
        if when:
            try:
                detected = date.fromisoformat(when.strip())
            except ValueError:
                errors.append(
                    FieldError(
                        "flags",
                        _("{code}: the date must be YYYY-MM-DD, e.g. {code}@2024-03-01.").format(code=code),
                    )
                )
                continue
            if detected > today:
                errors.append(
                    FieldError("flags", _("{code}: the detected date is in the future.").format(code=code))
                )
                continue
        earlier = flags.get(code)
        # The same flag twice: keep the earliest date, the household has waited since then.
        flags[code] = min(filter(None, (earlier, detected)), default=None)
    if unknown:
        errors.append(
            FieldError(
                "flags",
                _("Unknown flag code(s): {codes}. Known codes: {known}.").format(
                    codes=", ".join(unknown), known=", ".join(_FLAG_LIST)
                ),
            )
        )
    return flags


def code_list(
    value: Any, name: str, known: frozenset[str], all_codes: list[str], errors: list[FieldError]
) -> tuple[str, ...]:
    items, shaped = _codes(value)
    if not shaped:
        errors.append(FieldError(name, _("A list of codes, ;-separated in CSV.")))
        return ()
    unknown = [item for item in items if item not in known]
    if unknown:
        errors.append(
            FieldError(
                name,
                _("Unknown code(s): {codes}. Known codes: {known}.").format(
                    codes=", ".join(unknown), known=", ".join(all_codes)
                ),
            )
        )
        return ()
    return tuple(dict.fromkeys(items))


def check_record(
    record: RawRecord, region_codes: Mapping[str, Any] | set[str], today: date
) -> HouseholdRow | list[FieldError]:
    """Every rule of the format on one record: all field errors at once, or the clean row."""
    if record.problem:
        return [FieldError("record", record.problem)]
    values = record.values
    errors: list[FieldError] = []
    unknown_fields = sorted(str(name) for name in values if name not in FIELDS)
    if unknown_fields:
        errors.append(
            FieldError("record", _("Unknown field(s): {names}.").format(names=", ".join(unknown_fields)))
        )

    external_id = _text(values.get("external_id"))
    if not external_id:
        errors.append(FieldError("external_id", _("Required: the household's id in the assistance system.")))
    elif len(external_id) > 64 or any(char.isspace() for char in external_id):
        errors.append(FieldError("external_id", _("At most 64 characters, without spaces.")))

    head_name = _text(values.get("head_name"))
    if not head_name:
        errors.append(FieldError("head_name", _("Required: the name of the head of household.")))
    elif len(head_name) > 64:
        errors.append(FieldError("head_name", _("At most 64 characters.")))

    id_number = _text(values.get("id_number")).replace(" ", "").upper() or None
    if id_number and (problem := id_number_error(id_number)):
        errors.append(FieldError("id_number", problem))

    phone_text = _text(values.get("phone"))
    phone = normalise_phone(phone_text) if phone_text else None
    if phone_text and phone is None:
        errors.append(
            FieldError(
                "phone",
                _(
                    "Neither an 11-digit mobile (13812345678) nor a landline with its area code (0577-88123456)."
                ),
            )
        )

    address = _text(values.get("address"))
    if len(address) > 255:
        errors.append(FieldError("address", _("At most 255 characters.")))

    region_code = _text(values.get("region_code"))
    if not region_code:
        errors.append(FieldError("region_code", _("Required: the community, town or district code.")))
    elif region_code not in region_codes:
        errors.append(FieldError("region_code", _("Unknown region code {code}.").format(code=region_code)))

    lat = _coordinate(values.get("lat"), "lat", errors)
    lon = _coordinate(values.get("lon"), "lon", errors)
    if not any(error.field in ("lat", "lon") for error in errors):
        _check_coordinates(lat, lon, errors)

    member_count = member_count_of(values.get("member_count"), errors)
    flags = _flags(values.get("flags"), today, errors)
    needs = code_list(values.get("needs"), "needs", _NEED_CODES, _NEED_LIST, errors)
    accessibility = code_list(
        values.get("accessibility"),
        "accessibility",
        _ACCESSIBILITY_CODES,
        _ACCESSIBILITY_LIST,
        errors,
    )
    contact = _text(values.get("contact_preference")).upper() or ContactPreference.SMS.value
    if contact not in _CONTACT_CODES:
        errors.append(
            FieldError(
                "contact_preference",
                _("Unknown contact preference {code}: use SMS, VOICE or COMMUNITY_WORKER.").format(
                    code=contact
                ),
            )
        )
    if errors:
        return errors
    return HouseholdRow(
        row=record.row,
        external_id=external_id,
        head_name=head_name,
        id_number=id_number,
        phone=phone,
        address=address,
        region_code=region_code,
        lat=lat,
        lon=lon,
        member_count=member_count,
        flags=flags,
        needs=tuple(sorted(needs)),
        accessibility=tuple(sorted(accessibility)),
        contact_preference=contact,
        raw=record,
    )

"""A full re-match's rows as PostgreSQL binary COPY data, built with numpy a batch at a time.

Twenty million rows went through asyncpg's COPY one Python tuple at a time: building the tuples,
their reasons and asyncpg's encoding of each cost about 3 µs a row, most of a province's re-match.
Here a batch of tiles (`area_candidates.TilePairs`) becomes one bytes object: the rows' fixed-width
fields are a numpy record array in network byte order, and the reasons — the same text (models.StoredReasons) the
per-request search writes, of which a batch holds few distinct ones — are made once per distinct
(offering, eligibility, region, band) and gathered by number. Rows are grouped by the length of
their reasons (a record array has one width), which COPY does not mind: a table has no order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from alliance.matching.area_candidates import AreaSearch, TilePairs

# The columns, in the order the rows carry them (types as in request_match; `copy_columns_match`
# checks them against the table before a run uses this form).
COLUMNS = ("id", "request_id", "offering_id", "partner_id", "score", "distance_km", "partner_best", "reasons")
COLUMN_TYPES = ("int8", "int4", "int4", "int4", "float8", "float8", "bool", "text")
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)

_BEFORE_DISTANCE = [
    ("fields", ">i2"),
    ("id_length", ">i4"),
    ("id", ">i8"),
    ("request_length", ">i4"),
    ("request_id", ">i4"),
    ("offering_length", ">i4"),
    ("offering_id", ">i4"),
    ("partner_length", ">i4"),
    ("partner_id", ">i4"),
    ("score_length", ">i4"),
    ("score", ">f8"),
    ("distance_length", ">i4"),
]
_AFTER_DISTANCE = [("best_length", ">i4"), ("partner_best", "u1"), ("reasons_length", ">i4")]


def _record_type(reasons_length: int, with_distance: bool) -> np.dtype:
    distance = [("distance_km", ">f8")] if with_distance else []
    return np.dtype(_BEFORE_DISTANCE + distance + _AFTER_DISTANCE + [("reasons", f"S{reasons_length}")])


class CopyEncoder:
    """Encodes TilePairs (and the odd request searched alone, as rows) into COPY data; numbers the
    rows' ids from `first_id` on."""

    def __init__(self, area: AreaSearch, first_id: int) -> None:
        self.area = area
        self.first_id = self.next_id = first_id
        # (offering id and eligibility bits, region, band) -> the reasons, UTF-8 text (models.StoredReasons).
        self._reasons: dict[tuple[int, int, int], bytes] = {}

    def encode(self, tiles: list[TilePairs]) -> bytes:
        """The rows of these tiles, as COPY data (no header or trailer)."""
        pairs = [tile for tile in tiles if len(tile.request_ids)]
        if not pairs:
            return b""

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(tile, name) for tile in pairs])

        offering_ids = joined("offering_ids")
        count = len(offering_ids)
        tails = (offering_ids << len(self.area.flag_bits)) | joined("eligible_bits")
        tail_keys, tail_number = np.unique(tails, return_inverse=True)
        region = joined("region")
        band = joined("band")
        regions = len(self.area.region_codes) + 1
        combined = (tail_number * regions + (region + 1)) * 8 + band
        keys, reason_number = np.unique(combined, return_inverse=True)
        texts = [
            self._reasons_of(int(tail_keys[key // (regions * 8)]), int(key // 8 % regions) - 1, int(key % 8))
            for key in keys.tolist()
        ]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        row_length = lengths[reason_number]
        distances = joined("distances")
        with_distance = ~np.isnan(distances)
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        self.next_id += count
        request_ids, partners = joined("request_ids"), joined("partners")
        scores, best = joined("scores"), joined("partner_best")
        group = row_length * 2 + with_distance
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        parts: list[bytes] = []
        for selected in np.split(order, bounds):
            first = int(selected[0])
            length, has_distance = int(row_length[first]), bool(with_distance[first])
            records = np.empty(len(selected), dtype=_record_type(length, has_distance))
            records["fields"] = len(COLUMNS)
            records["id_length"] = 8
            records["id"] = ids[selected]
            records["request_length"] = 4
            records["request_id"] = request_ids[selected]
            records["offering_length"] = 4
            records["offering_id"] = offering_ids[selected]
            records["partner_length"] = 4
            records["partner_id"] = partners[selected]
            records["score_length"] = 8
            records["score"] = scores[selected]
            if has_distance:
                records["distance_length"] = 8
                records["distance_km"] = distances[selected]
            else:
                records["distance_length"] = -1
            records["best_length"] = 1
            records["partner_best"] = best[selected]
            records["reasons_length"] = length
            same_length = np.flatnonzero(lengths == length)
            table = np.array([texts[number] for number in same_length.tolist()], dtype=f"S{length}")
            records["reasons"] = table[np.searchsorted(same_length, reason_number[selected])]
            parts.append(records.tobytes())
        return b"".join(parts)

    def encode_rows(self, rows: Iterable[tuple[Any, ...]]) -> bytes:
        """Rows as `match_storage._Matcher` makes them (request, offering, partner, score, distance,
        reasons text, partner_best), one at a time: the few requests searched alone."""
        parts = []
        for request_id, offering_id, partner_id, score, distance, reasons, partner_best in rows:
            text = reasons.encode()
            distance_part = struct.pack(">i", -1) if distance is None else struct.pack(">id", 8, distance)
            parts.append(
                struct.pack(
                    ">hiqiiiiiiid",
                    len(COLUMNS),
                    8,
                    self.next_id,
                    4,
                    request_id,
                    4,
                    offering_id,
                    4,
                    partner_id,
                    8,
                    score,
                )
                + distance_part
                + struct.pack(">i?i", 1, partner_best, len(text))
                + text
            )
            self.next_id += 1
        return b"".join(parts)

    def _reasons_of(self, tail: int, region: int, band: int) -> bytes:
        key = (tail, region, band)
        found = self._reasons.get(key)
        if found is None:
            mask = (1 << len(self.area.flag_bits)) - 1
            text = self.area.reasons_text(tail >> len(self.area.flag_bits), band, region, tail & mask)
            found = self._reasons[key] = text.encode()
        return found


def decode(data: bytes) -> Iterator[tuple[Any, ...]]:
    """COPY data (header to trailer) back into rows in COLUMNS' order, reasons as stored text: for the
    tests, which hold the encoding to the rows the per-request search makes."""
    assert data[: len(HEADER)] == HEADER
    at = len(HEADER)
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            assert at == len(data)
            return
        values: list[Any] = []
        for kind in COLUMN_TYPES:
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            if length == -1:
                values.append(None)
                continue
            raw = data[at : at + length]
            at += length
            if kind == "int8":
                values.append(struct.unpack(">q", raw)[0])
            elif kind == "int4":
                values.append(struct.unpack(">i", raw)[0])
            elif kind == "float8":
                values.append(struct.unpack(">d", raw)[0])
            elif kind == "bool":
                values.append(raw == b"\x01")
            else:
                values.append(raw.decode())
        yield tuple(values)

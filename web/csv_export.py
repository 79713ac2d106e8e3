"""Every CSV (and spreadsheet) export goes out through here: a cell that a spreadsheet program would
read as a formula (it begins with = + - @, a tab or a carriage return) is sent with a leading
apostrophe, so a name or a note typed by anyone cannot run in the reader's Excel (formula injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response

# One escaping for the pages and the export jobs (alliance/core/exports.py).
from alliance.core.exports import FORMULA_STARTS, safe_cell, safe_row

__all__ = ["FORMULA_STARTS", "csv_response", "csv_text", "safe_cell", "safe_row"]


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(safe_row(row))
    return buffer.getvalue()


def csv_response(rows: Iterable[Iterable[Any]], filename: str, *, private: bool = True) -> Response:
    """A UTF-8 CSV download with a BOM, so spreadsheet programs read the Chinese text as UTF-8."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if private:
        headers["Cache-Control"] = "no-store"
    return Response("\ufeff" + csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)

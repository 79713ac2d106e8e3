"""Exports as worker jobs against the old synchronous export: time and peak memory for a large file.

    .venv/bin/python bench/bench_exports.py [--rows 200000] [--database-url URL]

The data: `--rows` audit entries, one per visit viewed (`visit.view`, each naming a household),
what a whole city's audit export holds for 200,000 visits. Without `--database-url` a scratch
SQLite file in a temporary folder (give a scratch PostgreSQL database's URL to measure that).

1. the old way (what `GET /audit/export.csv` did in the web request): every row loaded, the whole CSV
   built as one string (`audit.export_rows` + `csv_text`);
2. the job (`alliance/core/exports.py`, `run_export`, what the worker runs): rows read in batches of
   `BATCH_ROWS` and written straight to the file.

Printed for each: seconds and the process's peak resident memory (the job runs first, so the old
way's peak is the growth above it), and the two files compared byte for byte. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise  # noqa: E402

from alliance.core import audit, db, exports  # noqa: E402
from alliance.core.access import principal_for  # noqa: E402
from alliance.core.accounts import create_user  # noqa: E402
from alliance.core.codes import Role  # noqa: E402
from alliance.core.timeutil import utc_now  # noqa: E402


async def _fill(rows: int) -> None:
    connection = Tortoise.get_connection("default")
    now = utc_now().isoformat()
    postgres = connection.capabilities.dialect == "postgres"
    mark = "$%d" if postgres else "?"
    columns = ("actor_name", "action", "object_type", "object_id", "household_id", "details", "address", "at")
    places = ", ".join(mark % (i + 1) if postgres else mark for i in range(len(columns)))
    sql = f"INSERT INTO audit_entry ({', '.join(columns)}) VALUES ({places})"
    chunk = 5000
    for start in range(0, rows, chunk):
        values = [
            [
                "coordinator",
                "visit.view",
                "visit",
                str(index),
                index % 50_000 + 1,
                json.dumps({"visit": index}),
                "10.0.0.9",
                now,
            ]
            for index in range(start, min(rows, start + chunk))
        ]
        await connection.execute_many(sql, values)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000


async def _measure(label: str, work) -> object:  # type: ignore[no-untyped-def]
    """Seconds, and the process's peak resident memory after it (the job runs first, so the
    old way's peak shows as the growth above the job's)."""
    started = time.perf_counter()
    result = await work()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.1f} s   process peak {_max_rss_mb():8.1f} MB")
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="alliance-bench-exports-"))
    url = args.database_url or f"sqlite://{folder / 'bench.sqlite3'}"
    await db.migrate(url)
    await db.connect(url)
    try:
        admin = await principal_for(await create_user("bench-admin", "bench-exports-1", Role.ADMIN))
        started = time.perf_counter()
        await _fill(args.rows)
        print(
            f"{args.rows:,} audit entries written in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
        )

        print(f"process peak before: {_max_rss_mb():.1f} MB")

        async def job() -> Path:
            asked = await exports.request_export(admin, "audit_csv", {"action": "visit"}, folder / "exports")
            done = await exports.run_export(asked.id)
            assert done is not None
            return Path(done.file_path)

        path = await _measure(f"job: batches of {exports.BATCH_ROWS} to the file", job)

        async def synchronous() -> str:
            rows = await audit.export_rows(admin, audit.AuditFilter(action="visit"), limit=args.rows + 10)
            return "\ufeff" + exports_csv_text(rows)

        old = await _measure("old: the whole file built in the request", synchronous)

        with open(path, encoding="utf-8", newline="") as stream:
            written = stream.read()
        same = written == old
        print(
            f"file {path.stat().st_size / 1_000_000:.1f} MB, {written.count(chr(10)):,} lines; same as the old export: {same}"
        )
    finally:
        await db.disconnect()


def exports_csv_text(rows: list[list[object]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(exports.safe_row(row) for row in rows)
    return buffer.getvalue()


if __name__ == "__main__":
    asyncio.run(main())

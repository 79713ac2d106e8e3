"""Household intake speed: import generated households from a CSV file, on SQLite and PostgreSQL,
next to the physical floor measured in the same run with the same driver.

    .venv/bin/python bench/bench_intake.py [ROWS] [--backends sqlite,postgres]

ROWS (default 100,000; also --rows) households are generated into one CSV file. For a large file
on a busy machine, `--floors copy --no-rerun` measures only the import and the COPY it is held to:

    .venv/bin/python bench/bench_intake.py 1000000 --backends postgres --floors copy --no-rerun

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL names a server (a scratch database is created in
it and dropped after); without either an embedded PostgreSQL is started.

For each backend, in fresh databases:
- import: `read_file` + `import_households` of the file, every rule checked (what the CLI does);
- re-run: the same file again (every row unchanged);
- floor, households: the same households as plain INSERTs (executemany, in chunks of the import's
  size — 5,000 rows, `--floor-chunk` to change it — one transaction), nothing checked;
- floor, all rows: the same households, flags, service requests and intake records the import
  writes, as plain INSERTs the same way. The ratio import / floor is against this one: the import
  cannot write fewer rows.
- floor, all rows by COPY (PostgreSQL): the same rows again, by binary COPY (asyncpg's
  copy_records_to_table), which is how the import writes them on PostgreSQL: the floor of that
  way of writing, printed with its own ratio next to the INSERT floor's.
Every floor writes the columns and values the import stores: the ID number and phone encrypted
beside their blind indexes, each intake record's phone-and-address index and batch (the encrypted
values and hashes are worked out before the floor's clock starts, `derive_identities`).

Beside each import, the process's peak resident memory while it ran (VmHWM, reset just before it
through /proc/self/clear_refs; where that is refused, the process's peak so far).

Goals (2-core machine; issue 20, item 3), printed, not asserted: on PostgreSQL the import within
1.2x the binary COPY of the same rows, and a peak of at most 500 MiB whatever the file's size.
The earlier goal (>= 5,000 rows/s, <= 3x the INSERT floor) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise  # noqa: E402
from tortoise.backends.base.executor import EXECUTOR_CACHE  # noqa: E402
from tortoise.transactions import in_transaction  # noqa: E402

from alliance.core import db  # noqa: E402
from alliance.core.codes import DEFAULT_FLAG_NEEDS, FlagCode, RegionLevel  # noqa: E402
from alliance.core.crypto import encrypt, id_number_index, keyring_held, phone_index  # noqa: E402
from alliance.core.models import Region  # noqa: E402
from alliance.core.regions import LEVEL_DEPTH, path_for  # noqa: E402
from alliance.households.duplicates import phone_address_index  # noqa: E402
from alliance.households.intake import CHUNK_SIZE, import_households  # noqa: E402
from alliance.households.intake_format import FIELDS, id_check_character, read_file  # noqa: E402
from alliance.households.models import BatchStatus, IntakeBatch, IntakeChannel  # noqa: E402
from alliance.households.reference import ensure_reference_data  # noqa: E402

# The floor writes its COPYs in pieces of the import's chunk size (--floor-chunk to change it).
CHUNK = CHUNK_SIZE
GOAL_ROWS_PER_SECOND, GOAL_FLOOR_RATIO = 5_000, 3
GOAL_COPY_RATIO, GOAL_PEAK_MIB = 1.2, 500
DISTRICTS, TOWNS_PER_DISTRICT, COMMUNITIES_PER_TOWN = 10, 10, 10
FLAG_CODES = [code.value for code in FlagCode]


# --- memory ---------------------------------------------------------------------------------


def _status_kib(name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Start the process's peak resident memory (VmHWM) afresh (Linux); False where refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mib() -> float:
    """The process's peak resident memory since the last reset_peak (else since it started)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def resident_mib() -> float:
    return (_status_kib("VmRSS") or 0) / 1024


# --- data ------------------------------------------------------------------------------------


def _id_number(first17: str) -> str:
    return first17 + id_check_character(first17)


def generate_file(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` households in 1,000 communities: one to three flags, some dated, a third with coordinates."""
    rng = random.Random(seed)
    communities = [
        f"3303{district:02d}{town:03d}{community:03d}"
        for district in range(1, DISTRICTS + 1)
        for town in range(1, TOWNS_PER_DISTRICT + 1)
        for community in range(1, COMMUNITIES_PER_TOWN + 1)
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for index in range(rows):
            flags = rng.sample(FLAG_CODES, rng.randint(1, 3))
            if rng.random() < 0.3:
                flags[0] += f"@2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            located = rng.random() < 0.33
            writer.writerow(
                [
                    f"BENCH-{index:07d}",
                    f"户主{index}",
                    _id_number(
                        f"330302{1940 + index % 60}{1 + index // 60 % 12:02d}"
                        f"{1 + index // 720 % 28:02d}{index // 20160 % 1000:03d}"
                    ),
                    f"13{rng.randint(0, 9)}{index:08d}",
                    f"某街道{index % 500}号{index}室",
                    rng.choice(communities),
                    f"{27.9 + rng.random() * 0.2:.5f}" if located else "",
                    f"{120.6 + rng.random() * 0.2:.5f}" if located else "",
                    rng.randint(1, 6),
                    ";".join(flags),
                    "LEGAL_AID" if rng.random() < 0.05 else "",
                    "BLIND" if rng.random() < 0.05 else "",
                    rng.choice(["SMS", "VOICE", "COMMUNITY_WORKER"]),
                ]
            )


async def build_regions() -> None:
    regions = []

    def add(code: str, level: RegionLevel, parent: Region | None) -> Region:
        region = Region(
            code=code,
            name=f"区域{code}",
            level=level,
            parent_id=parent.code if parent else None,
            path=path_for(parent.path if parent else None, code),
            depth=LEVEL_DEPTH[level],
            lat=28.0,
            lon=120.7,
        )
        regions.append(region)
        return region

    city = add("330300", RegionLevel.CITY, None)
    for district in range(1, DISTRICTS + 1):
        district_region = add(f"3303{district:02d}", RegionLevel.DISTRICT, city)
        for town in range(1, TOWNS_PER_DISTRICT + 1):
            town_region = add(f"{district_region.code}{town:03d}", RegionLevel.TOWN, district_region)
            for community in range(1, COMMUNITIES_PER_TOWN + 1):
                add(f"{town_region.code}{community:03d}", RegionLevel.COMMUNITY, town_region)
    await Region.bulk_create(regions, batch_size=500)


# --- databases -------------------------------------------------------------------------------


class Databases:
    """Fresh databases on one backend: temporary SQLite files, or scratch PostgreSQL databases."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.created: list[str] = []
        self.embedded = None
        self.admin_url = ""
        if backend == "postgres":
            self.admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or ""
            if not self.admin_url:
                from alliance.core.embedded import start_embedded_postgres

                self.embedded = start_embedded_postgres(workdir / "pg", database="postgres")
                self.admin_url = self.embedded.url

    async def fresh(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite://{self.workdir / (name + '.sqlite3')}"
        # BENCH_TAG names the run's databases (several people may bench on one server).
        database = f"alliance_bench_{os.environ.get('BENCH_TAG', 'intake')}_{os.getpid()}_{name}"
        await _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"')
        self.created.append(database)
        parts = urlsplit(self.admin_url)
        return urlunsplit(("postgres", parts.netloc, "/" + database, parts.query, parts.fragment))

    async def close(self) -> None:
        await Tortoise.close_connections()
        for database in self.created:
            await _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if self.embedded is not None:
            self.embedded.stop()


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _prepared(url: str) -> None:
    # tortoise caches INSERT statements per connection name: SQLite's "?" must not reach PostgreSQL.
    EXECUTOR_CACHE.clear()
    await db.migrate(url)
    await db.connect(url)
    await ensure_reference_data()
    await build_regions()


# --- the floor -------------------------------------------------------------------------------


HOUSEHOLD_COLUMNS = {
    "id": "INT",
    "external_id": "VARCHAR(64)",
    "head_name": "VARCHAR(64)",
    # What the import stores (docs/security.md): the ID number and phone encrypted, each beside its
    # blind index (both indexed), computed before the floor's clock starts (`derive_identities`).
    "id_number_enc": "VARCHAR(160)",
    "id_number_index": "VARCHAR(64)",
    "phone_enc": "VARCHAR(160)",
    "phone_index": "VARCHAR(64)",
    "address": "VARCHAR(255)",
    "region_id": "VARCHAR(12)",
    "lat": "DOUBLE PRECISION",
    "lon": "DOUBLE PRECISION",
    "location_precision": "VARCHAR(8)",
    "member_count": "SMALLINT",
    "accessibility": "JSONB",
    "contact_preference": "VARCHAR(20)",
    "consent": "BOOL",
    "verified": "BOOL",
    "verification_method": "VARCHAR(16)",
    "consent_status": "VARCHAR(12)",
    "consent_scope": "JSONB",
    "consent_method": "VARCHAR(20)",
    "matchable": "BOOL",
    "created_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
    "card_serial": "SMALLINT",
}
FLAG_COLUMNS = {
    "household_id": "INT",
    "code": "VARCHAR(32)",
    "source": "VARCHAR(64)",
    "detected_at": "TIMESTAMPTZ",
    "severity": "SMALLINT",
    "active": "BOOL",
}
REQUEST_COLUMNS = {
    "household_id": "INT",
    "need_id": "VARCHAR(32)",
    "status": "VARCHAR(12)",
    "active_key": "VARCHAR(64)",
    "priority": "SMALLINT",
    "escalated": "BOOL",
    "created_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
}
RECORD_COLUMNS = {
    "household_id": "INT",
    "source_id": "INT",
    "last_batch_id": "INT",
    "explicit_needs": "JSONB",
    "geocode_pending": "BOOL",
    "phone_address": "VARCHAR(64)",
    "updated_at": "TIMESTAMPTZ",
}


async def raw_insert(
    connection: Any, table: str, columns: dict[str, str], rows: list[list[Any]], copy: bool = False
) -> None:
    """A plain bulk INSERT with the driver: PostgreSQL one statement over arrays (unnest), or with
    `copy` a binary COPY; SQLite executemany."""
    if not rows:
        return
    if copy:
        async with connection.acquire_connection() as raw:
            await raw.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    names = ", ".join(f'"{name}"' for name in columns)
    if connection.capabilities.dialect == "postgres":
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(columns.values(), start=1))
        await connection.execute_query(
            f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays})',
            [[row[i] for row in rows] for i in range(len(columns))],
        )
    else:
        await connection.execute_many(
            f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows
        )


def _file_chunks(path: Path, derived: Path) -> Any:
    """(offset, rows, derived rows) of the CSV file, CHUNK rows at a time (the floor does not hold
    the file either)."""
    with (
        path.open(encoding="utf-8", newline="") as handle,
        derived.open(encoding="utf-8", newline="") as extra,
    ):
        reader, extras = csv.reader(handle), csv.reader(extra)
        next(reader)
        start, chunk, derived_chunk = 0, [], []
        for row, derived_row in zip(reader, extras, strict=True):
            chunk.append(row)
            derived_chunk.append(derived_row)
            if len(chunk) == CHUNK:
                yield start, chunk, derived_chunk
                start, chunk, derived_chunk = start + CHUNK, [], []
        if chunk:
            yield start, chunk, derived_chunk


def derive_identities(path: Path, derived: Path) -> None:
    """Beside each row of the file: its ID number and phone encrypted, their blind indexes and the
    phone-and-address blind index, as the import stores them — worked out before the floor's clock
    starts, so that the floor writes the same bytes without paying for the keyed hashes and AES-GCM."""
    with (
        path.open(encoding="utf-8", newline="") as handle,
        derived.open("w", encoding="utf-8", newline="") as out,
    ):
        reader, writer = csv.reader(handle), csv.writer(out)
        next(reader)
        with keyring_held():
            for row in reader:
                id_number, phone, address = row[2], row[3], row[4]
                writer.writerow(
                    [
                        encrypt("household.id_number", id_number),
                        id_number_index(id_number),
                        encrypt("household.phone", phone),
                        phone_index(phone),
                        phone_address_index(phone, address) or "",
                    ]
                )


async def raw_floor(path: Path, derived: Path, all_rows: bool, copy: bool = False) -> tuple[float, int]:
    """Plain INSERTs (or with `copy` binary COPYs) of the file's households (and with all_rows the
    flags, requests and records the import writes), in chunks of CHUNK rows, one transaction, nothing
    checked: the same columns and values the import stores, the encrypted ones and blind indexes
    taken from `derived`. Returns (seconds, rows)."""
    now = datetime.now(UTC)
    needs = {flag.value: [need.value for need in values] for flag, values in DEFAULT_FLAG_NEEDS.items()}
    as_json = json.dumps
    batch = await IntakeBatch.create(channel=IntakeChannel.FILE, status=BatchStatus.RUNNING, started_at=now)
    started = time.perf_counter()
    written = 0
    async with in_transaction() as transaction:
        for start, chunk, derived_chunk in _file_chunks(path, derived):
            households, flags, requests, records = [], [], [], []
            for offset, (row, (id_enc, id_index, phone_enc, phone_hash, phone_address)) in enumerate(
                zip(chunk, derived_chunk, strict=True)
            ):
                household_id = start + offset + 1  # a fresh table: ids are 1..n
                lat = float(row[6]) if row[6] else None
                households.append(
                    [
                        household_id,
                        row[0],
                        row[1],
                        id_enc,
                        id_index,
                        phone_enc,
                        phone_hash,
                        row[4],
                        row[5],
                        lat,
                        float(row[7]) if row[7] else None,
                        "exact" if lat is not None else "region",
                        int(row[8]),
                        as_json([code for code in row[11].split(";") if code]),
                        row[12],
                        False,
                        False,
                        "",
                        "system",
                        "[]",
                        "assistance_system",
                        True,
                        now,
                        now,
                        1,
                    ]
                )
                if all_rows:
                    codes = [code.split("@")[0] for code in row[9].split(";")]
                    flags += [[household_id, code, "file", now, 2, True] for code in codes]
                    wanted = sorted({need for code in codes for need in needs[code]} | ({row[10]} - {""}))
                    requests += [
                        [household_id, need, "open", f"{household_id}:{need}", 10, False, now, now]
                        for need in wanted
                    ]
                    records.append(
                        [
                            household_id,
                            None,
                            batch.id,
                            as_json([row[10]] if row[10] else []),
                            lat is None,
                            phone_address or None,
                            now,
                        ]
                    )
            await raw_insert(transaction, "household", HOUSEHOLD_COLUMNS, households, copy)
            written += len(households)
            if all_rows:
                await raw_insert(transaction, "flag", FLAG_COLUMNS, flags, copy)
                await raw_insert(transaction, "service_request", REQUEST_COLUMNS, requests, copy)
                await raw_insert(transaction, "intake_record", RECORD_COLUMNS, records, copy)
                written += len(flags) + len(requests) + len(records)
    return time.perf_counter() - started, written


# --- the run ---------------------------------------------------------------------------------


FLOORS = {"households": ("floor_households", False, False), "all": ("floor_all", True, False)}


async def bench_backend(
    backend: str,
    path: Path,
    derived: Path,
    rows: int,
    workdir: Path,
    floor_names: list[str],
    rerun: bool = True,
) -> dict[str, Any]:
    databases = Databases(backend, workdir)
    figures: dict[str, Any] = {"backend": backend}
    try:
        floors = [FLOORS[name] for name in floor_names if name in FLOORS]
        if backend == "postgres" and "copy" in floor_names:
            floors.append(("floor_all_copy", True, True))
        for name, all_rows, copy in floors:
            await _prepared(await databases.fresh(name))
            try:
                seconds, written = await raw_floor(path, derived, all_rows, copy)
            finally:
                await db.disconnect()
            figures[name] = (seconds, written)

        await _prepared(await databases.fresh("import"))
        try:
            figures["resident_before"] = resident_mib()
            figures["peak_reset"] = reset_peak()
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await import_households(read_file(path), filename=path.name)
            figures["import"] = time.perf_counter() - started
            figures["import_cpu"] = time.process_time() - cpu_started
            figures["import_peak"] = peak_mib()
            assert result.created == rows and not result.rejected, (result.created, result.rejected[:3])
            figures["requests"] = result.requests_created
            if rerun:
                reset_peak()
                started = time.perf_counter()
                again = await import_households(read_file(path), filename=path.name)
                figures["rerun"] = time.perf_counter() - started
                figures["rerun_peak"] = peak_mib()
                assert again.unchanged == rows
        finally:
            await db.disconnect()
    finally:
        await databases.close()
    return figures


def report(figures: dict[str, Any], rows: int) -> None:
    imported = figures["import"]
    print(f"\n{figures['backend']}: {rows:,} households ({figures['requests']:,} service requests)")
    print(
        f"  import (checked, upserted)          {imported:7.2f} s   {rows / imported:9,.0f} rows/s"
        f"   peak {figures['import_peak']:6.0f} MiB"
    )
    print(f"  (this process's CPU during the import: {figures['import_cpu']:.2f} s)")
    if "rerun" in figures:
        print(
            f"  re-run (all unchanged)              {figures['rerun']:7.2f} s   {rows / figures['rerun']:9,.0f} rows/s"
            f"   peak {figures['rerun_peak']:6.0f} MiB"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  load average after the run {load} on {os.cpu_count()} cores")
    since = "since the import began" if figures["peak_reset"] else "the whole process so far"
    print(f"  (peak: resident memory {since}; {figures['resident_before']:.0f} MiB before the import)")
    labels = {
        "floor_households": "floor: households only",
        "floor_all": "floor: all rows the import writes",
        "floor_all_copy": "floor: all rows, by COPY",
    }
    for name, label in labels.items():
        if name not in figures:
            continue
        seconds, written = figures[name]
        print(
            f"  {label:<34} {seconds:7.2f} s   {rows / seconds:9,.0f} rows/s"
            f"   ({written:,} rows)   import is {imported / seconds:4.1f}x"
        )
    peak = max(figures["import_peak"], figures.get("rerun_peak", 0))
    print(
        f"  goal (peak <= {GOAL_PEAK_MIB} MiB whatever the size): {peak:.0f} MiB, "
        + ("met" if peak <= GOAL_PEAK_MIB else "NOT met")
    )
    if "floor_all_copy" in figures:
        ratio = imported / figures["floor_all_copy"][0]
        print(
            f"  goal (<= {GOAL_COPY_RATIO}x the binary COPY of the same rows): {ratio:.2f}x, "
            + ("met" if ratio <= GOAL_COPY_RATIO else "NOT met")
        )
    if "floor_all" in figures:
        met = (
            rows / imported >= GOAL_ROWS_PER_SECOND and imported <= GOAL_FLOOR_RATIO * figures["floor_all"][0]
        )
        print(
            f"  goal (>= {GOAL_ROWS_PER_SECOND:,} rows/s, <= {GOAL_FLOOR_RATIO}x the all-rows floor): "
            + ("met" if met else "NOT met")
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int, nargs="?", default=None, help="households in the file (100,000)")
    parser.add_argument("--rows", type=int, dest="rows_option", default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--floors",
        default="households,all,copy",
        help="which floors to measure: households, all (INSERTs), copy (PostgreSQL)",
    )
    parser.add_argument("--no-rerun", action="store_true", help="skip importing the same file again")
    parser.add_argument(
        "--floor-chunk",
        type=int,
        default=CHUNK_SIZE,
        help="rows per COPY/INSERT of the floors (the import's)",
    )
    args = parser.parse_args()
    global CHUNK
    CHUNK = args.floor_chunk
    args.rows = args.rows if args.rows is not None else args.rows_option
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"cores: {os.cpu_count()}; load average {load} (other work may share them)")
    print(
        f"chunks: the import writes {CHUNK_SIZE:,} rows a transaction; the floors {CHUNK:,} rows a COPY/INSERT"
    )
    with tempfile.TemporaryDirectory(prefix="alliance-bench-intake-") as directory:
        workdir = Path(directory)
        path = workdir / "households.csv"
        generate_file(path, args.rows)
        derived = workdir / "identities.csv"
        derive_identities(path, derived)
        print(f"generated {args.rows:,} households: {path.stat().st_size / 1e6:.1f} MB of CSV")
        for backend in args.backends.split(","):
            figures = await bench_backend(
                backend.strip(),
                path,
                derived,
                args.rows,
                workdir,
                args.floors.split(","),
                rerun=not args.no_rerun,
            )
            report(figures, args.rows)


if __name__ == "__main__":
    asyncio.run(main())

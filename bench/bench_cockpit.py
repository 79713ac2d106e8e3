"""The coordinator cockpit under load: 1,000,000 completed visits in PostgreSQL, the cockpit's first
page requested by 10 concurrent clients from the real app (`alliance serve`, a subprocess).

    .venv/bin/python bench/bench_cockpit.py [--visits 1000000] [--clients 10] [--requests 40]
        [--keep] [--database NAME] [--url URL] [--no-direct] [--statements]

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL names a server (a scratch database is created in
it and dropped after); without either an embedded PostgreSQL is started.

1. generate: regions (a city, 12 districts, 120 towns, 1,200 communities), 10 projects, 100
   partners and offerings, 5,000 volunteers, 300,000 flagged households, the completed visits (each
   a completed request, a visit, a service record and a volunteer booking; the last 30,000
   households never served) spread over this year until now, plus 60,000 open requests, 10,000 claims waiting and 5,000 missed visits. All of it is
   generated inside PostgreSQL (INSERT … SELECT FROM generate_series), then the running totals are
   aggregated from the records in SQL (what alliance.tallies.rebuild_tallies does, in one
   statement per table) and checked against the records' own sums.
2. serve: `alliance serve --workers 2` on that database (2-core machine).
3. measure, for the whole alliance (an administrator: the province root), the city's coordinator
   (the largest region subtree) and a district's, each time in a fresh web process:
   - with no snapshot yet: the first round of `--clients` clients at once (the page says the figures
     are being prepared and queues their job: it never computes them);
   - the cron's refresh (alliance.targets.cockpit_snapshots.refresh_snapshots, in this process):
     one pass over the requests, visits and flags for every scope (alliance/targets/cockpit_pass.py),
     then each scope's own part; what a worker spends in the background;
   - database round trips per page (every statement asyncpg sends, BEGIN and COMMIT included), the
     app in this process;
   - with the snapshots: the first round (cold: a fresh web process) and then `--requests` per
     client, all clients at once: p50 / p95 / max.
   The load average and core count are printed beside each figure (the machine is shared).
4. the exports as the worker writes them: rows, seconds (and to the first batch), peak memory; the
   promises CSV for the district only (it classifies every request of the year).

Goal (issue 20, item 4): p95 <= 300 ms at 10 clients for a city and a province view, cold pages
included. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from alliance.core import db  # noqa: E402
from alliance.core.accounts import create_user  # noqa: E402
from alliance.core.codes import FlagCode, NeedCode, Role  # noqa: E402
from alliance.core.timeutil import LOCAL_TZ  # noqa: E402
from alliance.households.reference import ensure_reference_data  # noqa: E402

HOUSEHOLDS = 300_000
PARTNERS = 100
VOLUNTEERS = 5_000
OPEN_REQUESTS, CLAIMS_WAITING, MISSED = 60_000, 10_000, 5_000
PASSWORD = "bench-cockpit-1"
NEEDS = [code.value for code in NeedCode]
FLAGS = [code.value for code in FlagCode]


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgres", parts.netloc, "/" + database, parts.query, parts.fragment))


async def _sql(connection, statement: str, *args) -> None:
    await connection.execute(statement, *args)


async def generate(url: str, visits: int) -> dict[str, float]:
    """Everything in SQL on the server; returns the seconds of each step."""
    import asyncpg

    timings: dict[str, float] = {}
    now = datetime.now(UTC)
    year = now.astimezone(LOCAL_TZ).year
    year_start = datetime(year, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    elapsed = (now - year_start).total_seconds() - 3600
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        # A bulk load of rows consistent by construction: skip the foreign-key triggers (superuser).
        await _sql(connection, "SET session_replication_role = replica")
        started = time.perf_counter()
        # Regions: 330300 > 3303DD > 3303DDTTT > 3303DDTTTCCC.
        await _sql(
            connection,
            """INSERT INTO region (code, name, name_en, level, parent_id, path, depth)
            VALUES ('330300', '温州市', 'Wenzhou', 'city', NULL, '/330300/', 0)""",
        )
        await _sql(
            connection,
            """INSERT INTO region (code, name, name_en, level, parent_id, path, depth)
            SELECT '3303' || lpad(d::text, 2, '0'), '区县' || d, 'District ' || d, 'district', '330300',
                   '/330300/3303' || lpad(d::text, 2, '0') || '/', 1 FROM generate_series(1, 12) d""",
        )
        await _sql(
            connection,
            """INSERT INTO region (code, name, name_en, level, parent_id, path, depth)
            SELECT p.code || lpad(t::text, 3, '0'), p.name || '街道' || t, p.name_en || ' town ' || t, 'town',
                   p.code, p.path || p.code || lpad(t::text, 3, '0') || '/', 2
            FROM region p, generate_series(1, 10) t WHERE p.level = 'district'""",
        )
        await _sql(
            connection,
            """INSERT INTO region (code, name, name_en, level, parent_id, path, depth)
            SELECT p.code || lpad(c::text, 3, '0'), p.name || '社区' || c, p.name_en || ' community ' || c,
                   'community', p.code, p.path || p.code || lpad(c::text, 3, '0') || '/', 3
            FROM region p, generate_series(1, 10) c WHERE p.level = 'town'""",
        )
        await _sql(
            connection,
            """CREATE TEMP TABLE community_list AS
            SELECT row_number() OVER (ORDER BY code) - 1 AS n, code FROM region WHERE level = 'community'""",
        )
        await _sql(
            connection,
            """INSERT INTO project (id, year, code, name, name_en, target_person_times)
            SELECT p, $1, 'P' || lpad(p::text, 2, '0'), '项目' || p, 'Project ' || p, 1000
            FROM generate_series(1, 10) p""",
            year,
        )
        await _sql(
            connection,
            """INSERT INTO partner (id, name, kind, status, description, contact_name, contact_phone, created_at,
                                    region_id)
            SELECT p, '伙伴' || p, 'service_provider', 'approved', '', '', '', now(),
                   '3303' || lpad((1 + p % 12)::text, 2, '0') FROM generate_series(1, $1) p""",
            PARTNERS,
        )
        await _sql(
            connection,
            """INSERT INTO offering (id, partner_id, project_id, need_id, title, description, eligibility_flags,
                                     monthly_capacity, delivery_mode, active, created_at, updated_at)
            SELECT o, o, 1 + (o - 1) % 10, ($2::text[])[1 + (o - 1) % 10], '服务' || o, '', '[]', 100000,
                   'home_visit', true, now(), now() FROM generate_series(1, $1) o""",
            PARTNERS,
            NEEDS,
        )
        await _sql(
            connection,
            """INSERT INTO volunteer (id, name, phone, skills, max_travel_km, weekly_availability, active, created_at,
                                      region_id)
            SELECT v, '志愿者' || v, '', '[]', 10, '{}', v % 50 <> 0, now(),
                   (SELECT code FROM community_list WHERE n = v % 1200) FROM generate_series(1, $1) v""",
            VOLUNTEERS,
        )
        await _sql(
            connection,
            """INSERT INTO household (id, external_id, head_name, address, location_precision, member_count,
                accessibility, contact_preference, consent, verified, created_at, updated_at, region_id,
                card_serial)
            SELECT h, 'B-' || h, '户主' || h, '', 'region', 1 + h % 4,
                   CASE WHEN h % 17 = 0 THEN '["BEDRIDDEN"]'::jsonb WHEN h % 13 = 0 THEN '["BLIND"]'::jsonb
                        ELSE '[]'::jsonb END,
                   'SMS', true, true, now(), now(), c.code, 1
            FROM generate_series(1, $1) h JOIN community_list c ON c.n = h % 1200""",
            HOUSEHOLDS,
        )
        await _sql(
            connection,
            """INSERT INTO flag (household_id, code, source, detected_at, severity, active)
            SELECT h, ($2::text[])[1 + h % 11], 'bench', $3::timestamptz - interval '20 days'
                   + (h % 300) * interval '1 day', 2, true FROM generate_series(1, $1) h
            UNION ALL
            SELECT h, ($2::text[])[1 + (h + 5) % 11], 'bench', $3::timestamptz + (h % 200) * interval '1 day', 2,
                   true FROM generate_series(3, $1, 3) h""",
            HOUSEHOLDS,
            FLAGS,
            year_start,
        )
        timings["reference rows"] = time.perf_counter() - started

        started = time.perf_counter()

        # The completed visits: request r, visit r, record r, booking r (ids equal, in one pass each).
        def completed(start: int) -> str:
            # Spread over the year until an hour ago: $start is the year's first moment, $start+1 the span.
            return (
                f"${start}::timestamptz + (${start + 1}::float8 * ((r::bigint * 104729) % 1000003) / 1000003)"
                " * interval '1 second'"
            )

        completed_at = completed(3)  # with $1 the count, $2 the needs (requests)
        later = completed(2)  # with $1 the count (visits, records, bookings)
        await _sql(
            connection,
            f"""INSERT INTO service_request (id, household_id, need_id, status, priority, escalated, claimed_by_id,
                offering_id, claimed_at, matched_at, close_reason, created_at, updated_at)
            SELECT r, 1 + (r::bigint * 7919) % ($5 - 30000), ($2::text[])[1 + (r / 7) % 10], 'completed', 10, false,
                   1 + (r / 7) % 100, 1 + (r / 7) % 100, {completed_at} - interval '3 days',
                   {completed_at} - interval '4 days',
                   'completed', {completed_at} - interval '5 days', {completed_at}
            FROM generate_series(1, $1) r""",
            visits,
            NEEDS,
            year_start,
            elapsed,
            HOUSEHOLDS,
        )
        await _sql(
            connection,
            f"""INSERT INTO visit (id, request_id, partner_id, window_start, window_end, status, is_follow_up,
                schedule_version, household_response, household_response_note, notes, created_at, updated_at)
            SELECT r, r, 1 + (r / 7) % 100, {later} - interval '1 hour', {later}, 'completed', false, 1,
                   'confirmed', '', '', {later} - interval '2 days', {later}
            FROM generate_series(1, $1) r""",
            visits,
            year_start,
            elapsed,
        )
        await _sql(
            connection,
            f"""INSERT INTO service_record (id, visit_id, service, duration_minutes, persons_served, notes,
                completed_at, comment)
            SELECT r, r, '上门服务', 60, CASE WHEN r % 3 = 0 THEN 2 ELSE 1 END, '', {later}, ''
            FROM generate_series(1, $1) r""",
            visits,
            year_start,
            elapsed,
        )
        await _sql(
            connection,
            f"""INSERT INTO volunteer_booking (id, visit_id, volunteer_id, window_start, window_end, active)
            SELECT r, r, 1 + (r::bigint * 31 + r / 13) % $4, {later} - interval '1 hour', {later}, true
            FROM generate_series(1, $1) r""",
            visits,
            year_start,
            elapsed,
            VOLUNTEERS,
        )
        timings["completed visits"] = time.perf_counter() - started

        started = time.perf_counter()
        await _sql(
            connection,
            """INSERT INTO service_request (id, household_id, need_id, status, active_key, priority, escalated,
                matched_at, created_at, updated_at)
            SELECT $1::int + g, 1 + (g::bigint * 13) % $3::int, ($2::text[])[1 + g % 10], 'open',
                   (1 + (g::bigint * 13) % $3) || ':' || ($2::text[])[1 + g % 10], 10 + g % 50, false,
                   CASE WHEN g % 5 = 0 THEN now() END, now() - (g % 200) * interval '1 day', now()
            FROM generate_series(1, $4) g""",
            visits,
            NEEDS,
            HOUSEHOLDS,
            OPEN_REQUESTS,
        )
        await _sql(
            connection,
            """INSERT INTO service_request (id, household_id, need_id, status, priority, escalated, claimed_by_id,
                offering_id, claimed_at, created_at, updated_at)
            SELECT $1::int + $4::int + g, 1 + (g::bigint * 17) % $3::int, ($2::text[])[1 + g % 10], 'claimed', 10, false,
                   1 + g % 100, 1 + g % 100, now() - interval '2 days', now() - interval '9 days', now()
            FROM generate_series(1, $5) g""",
            visits,
            NEEDS,
            HOUSEHOLDS,
            OPEN_REQUESTS,
            CLAIMS_WAITING,
        )
        await _sql(
            connection,
            """INSERT INTO visit (id, request_id, partner_id, window_start, window_end, status, is_follow_up,
                schedule_version, household_response, household_response_note, notes, created_at, updated_at)
            SELECT $1::int + g, $1::int + $2::int + g, 1 + g % 100, now() - interval '3 days', now() - interval '3 days'
                   + interval '1 hour', 'missed', false, 1, 'pending', '', '', now() - interval '5 days', now()
            FROM generate_series(1, $3) g""",
            visits,
            OPEN_REQUESTS,
            MISSED,
        )
        for table in (
            "household",
            "flag",
            "service_request",
            "visit",
            "service_record",
            "volunteer_booking",
            "partner",
            "offering",
            "volunteer",
            "project",
        ):
            await _sql(
                connection,
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))",
            )
        timings["open work"] = time.perf_counter() - started

        started = time.perf_counter()
        # The running totals, aggregated from the records the way alliance.tallies.recount counts them.
        await _sql(
            connection,
            """INSERT INTO delivery_tally (key, year, month, region_id, region_path, project_id, partner_id,
                                           person_times, deliveries)
            SELECT y || '-' || lpad(m::text, 2, '0') || ':' || region_id || ':' || coalesce(project_id, 0) || ':'
                   || partner_id, y, m, region_id, path, project_id, partner_id, sum(persons), count(*)
            FROM (
                SELECT extract(year FROM rec.completed_at AT TIME ZONE 'Asia/Shanghai')::int AS y,
                       extract(month FROM rec.completed_at AT TIME ZONE 'Asia/Shanghai')::int AS m,
                       h.region_id, reg.path, o.project_id, v.partner_id, rec.persons_served AS persons
                FROM service_record rec JOIN visit v ON v.id = rec.visit_id
                JOIN service_request sr ON sr.id = v.request_id JOIN household h ON h.id = sr.household_id
                JOIN region reg ON reg.code = h.region_id LEFT JOIN offering o ON o.id = sr.offering_id
            ) d GROUP BY y, m, region_id, path, project_id, partner_id""",
        )
        await _sql(
            connection,
            """INSERT INTO delivery_participant (key, year, kind, ref_id, region_id, region_path)
            SELECT DISTINCT ON (y, kind, ref_id, region_id) y || ':' || kind || ':' || ref_id || ':' || region_id,
                   y, kind, ref_id, region_id, path
            FROM (
                SELECT extract(year FROM rec.completed_at AT TIME ZONE 'Asia/Shanghai')::int AS y,
                       h.region_id, reg.path, v.partner_id, o.project_id, b.volunteer_id
                FROM service_record rec JOIN visit v ON v.id = rec.visit_id
                JOIN service_request sr ON sr.id = v.request_id JOIN household h ON h.id = sr.household_id
                JOIN region reg ON reg.code = h.region_id LEFT JOIN offering o ON o.id = sr.offering_id
                LEFT JOIN volunteer_booking b ON b.visit_id = v.id AND b.active
            ) d CROSS JOIN LATERAL (VALUES ('partner', d.partner_id), ('project', d.project_id),
                                           ('volunteer', d.volunteer_id)) AS p(kind, ref_id)
            WHERE ref_id IS NOT NULL""",
        )
        timings["tallies"] = time.perf_counter() - started
        started = time.perf_counter()
        await _sql(connection, "ANALYZE")
        timings["analyze"] = time.perf_counter() - started
        counted = await connection.fetchrow(
            """SELECT (SELECT sum(persons_served) FROM service_record) AS records,
                      (SELECT sum(person_times) FROM delivery_tally) AS tallies,
                      (SELECT count(*) FROM service_record) AS visits,
                      (SELECT count(*) FROM delivery_tally) AS tally_rows,
                      (SELECT count(*) FROM delivery_participant) AS participant_rows"""
        )
        assert counted["records"] == counted["tallies"], dict(counted)
        print(
            f"  {counted['visits']:,} completed visits, {counted['records']:,} person-times; "
            f"{counted['tally_rows']:,} tally rows, {counted['participant_rows']:,} participant rows "
            f"(person-times equal the records' sum)"
        )
    finally:
        await connection.close()
    return timings


async def accounts_and_targets(url: str, year: int) -> None:
    from alliance.targets.models import Target

    await db.connect(url)
    try:
        await ensure_reference_data()
        await create_user("coord.city", PASSWORD, Role.COORDINATOR, region_code="330300", display_name="市")
        await create_user(
            "coord.district", PASSWORD, Role.COORDINATOR, region_code="330302", display_name="区"
        )
        for metric, value in (
            ("projects", 10),
            ("organisations", 100),
            ("volunteers", 1000),
            ("person_times", 10000),
        ):
            await Target.create(year=year, metric=metric, scope_key="alliance", value=value)
    finally:
        await Tortoise.close_connections()


async def uncached_seconds(url: str, region: str) -> float:
    from alliance.targets import operational, scopes, unserved

    await db.connect(url)
    try:
        scope = await scopes.scope_of_region(region)
        year = datetime.now(UTC).astimezone(LOCAL_TZ).year
        started = time.perf_counter()
        await operational.operational_figures(scope, year)
        await unserved.unserved_households(scope, limit=10)
        return time.perf_counter() - started
    finally:
        await Tortoise.close_connections()


async def clear_snapshots(url: str) -> None:
    from alliance.targets.models import CockpitSnapshot

    await db.connect(url)
    try:
        await CockpitSnapshot.all().delete()
    finally:
        await Tortoise.close_connections()


async def refresh_like_the_cron(url: str) -> list[tuple[str, int]]:
    """What the worker's `refresh_cockpit` cron does (every viewed scope); (scope, ms) of each."""
    from alliance.targets import cockpit_snapshots
    from alliance.targets.models import CockpitSnapshot

    await db.connect(url)
    try:
        await cockpit_snapshots.refresh_snapshots()
        return [
            (code or "alliance", duration)
            for code, duration in await CockpitSnapshot.all()
            .order_by("region_code")
            .values_list("region_code", "duration_ms")
        ]
    finally:
        await Tortoise.close_connections()


def start_server(url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    return _load.start_server(
        url,
        workdir,
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        secret_key="bench-cockpit-secret-key-0123456789",
    )


def _with_figures(status: int, body: bytes) -> bool:
    return status == 200 and b"<svg" in body and b"/cockpit/unserved?" in body


def _being_prepared(status: int, body: bytes) -> bool:
    return status == 200 and b"<svg" in body and b'role="status" class="notice"' in body


def _machine() -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"load average {load} on {os.cpu_count()} cores"


# (user, what it views): the whole alliance (the province root: everything generated), the city's
# coordinator (the largest region subtree) and one district's.
VIEWERS = (
    ("admin.bench", "whole alliance"),
    ("coord.city", "city 330300"),
    ("coord.district", "district 330302"),
)


async def measure_all(url: str, workdir: Path, args: argparse.Namespace) -> None:
    await db.migrate(url)  # a database a --keep run of an older version left gets the snapshot table
    await ensure_admin(url)
    print(f"  machine: {_machine()}")
    for region in () if args.no_direct else ("330300", "330302"):
        print(
            f"  operational figures + unserved list, computed directly (what the worker does), {region}: "
            f"{await uncached_seconds(url, region) * 1000:.0f} ms"
        )
    # 1. No snapshot at all: a fresh web process; the page must not compute them (it queues a job).
    await clear_snapshots(url)
    server, base = start_server(url, workdir)
    try:
        for username, viewing in VIEWERS:
            figures = await _load.measure(
                base, username, PASSWORD, "/cockpit", clients=args.clients, requests=1, check=_being_prepared
            )
            print(
                f"  no snapshot yet, fresh web process, {viewing}: first round of {args.clients} clients "
                f"p50 {figures['cold_p50'] * 1000:.0f} ms, p95 {figures['cold_p95'] * 1000:.0f} ms, "
                f"max {figures['cold_max'] * 1000:.0f} ms (pages say 'being prepared'; {_machine()})"
            )
    finally:
        _load.stop_server(server)
    # 2. The worker's cron writes the snapshots of the viewed scopes.
    started = time.perf_counter()
    durations = await refresh_like_the_cron(url)
    print(
        f"  the cron's refresh of {len(durations)} scopes: {time.perf_counter() - started:.1f} s, one pass "
        f"over the requests, visits and flags for all of them, then per scope its own part "
        f"({', '.join(f'{code} {ms / 1000:.1f} s' for code, ms in durations)}; {_machine()})"
    )
    for username, viewing in VIEWERS:
        first, then, statements = await round_trips(url, workdir, username, "/cockpit")
        print(
            f"  /cockpit, {viewing}: database round trips per page {then} "
            f"(a fresh process's first page {first}, with the tallies it reads in the background)"
        )
        if args.statements:
            print("\n".join(f"      {statement}" for statement in statements))
    # 3. With snapshots: a fresh web process, its first round (cold), then the kept pages.
    server, base = start_server(url, workdir)
    try:
        for username, viewing in VIEWERS:
            figures = await _load.measure(
                base,
                username,
                PASSWORD,
                "/cockpit",
                clients=args.clients,
                requests=args.requests,
                check=_with_figures,
            )
            print(
                f"  /cockpit, {viewing}, fresh web process: cold first round of {args.clients} clients "
                f"p50 {figures['cold_p50'] * 1000:.0f} ms, p95 {figures['cold_p95'] * 1000:.0f} ms, "
                f"max {figures['cold_max'] * 1000:.0f} ms; then {args.clients} clients x {args.requests}: "
                f"p50 {figures['p50'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms, "
                f"max {figures['max'] * 1000:.0f} ms, {figures['per_second']:.0f} pages/s ({_machine()})"
            )
    finally:
        _load.stop_server(server)
    await export_memory(url)


async def round_trips(url: str, workdir: Path, username: str, path: str) -> tuple[int, int, list[str]]:
    """Database round trips of one request of `path` by `username`, the app in this process (every
    statement asyncpg sends, BEGIN and COMMIT included): (a fresh app's first request with the read of
    the tallies it starts in the background, the next request alone, the next one's statements)."""
    import asyncpg
    import httpx

    from web.app import create_app

    sent: list[str] = []
    originals = {}
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        originals[name] = getattr(asyncpg.Connection, name)

        def counted(self, query, *args, _name=name, **kwargs):
            sent.append(" ".join(str(query).split())[:110])
            return originals[_name](self, query, *args, **kwargs)

        setattr(asyncpg.Connection, name, counted)
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "SECRET_KEY": "bench-cockpit-secret-key-0123456789",
        "ALLIANCE_DATA_DIR": str(workdir / "data"),
        "ALLIANCE_LANGUAGE": "zh_CN",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        app = create_app(manage_database=True)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                page = await client.get("/login")
                token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                await client.post(
                    "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
                )
                counts = []
                for _round in range(2):
                    sent.clear()
                    response = await client.get(path)
                    assert response.status_code == 200, response.status_code
                    cache = getattr(app.state, "cockpit_cache", None)
                    refreshing = list(cache._refreshing.values()) if cache is not None else []
                    await asyncio.gather(*refreshing)  # the tallies a fresh process reads behind
                    counts.append(len(sent))
                return counts[0], counts[1], list(sent)
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def export_memory(url: str) -> None:
    """The district's and the city's exports as the worker writes them (each kind's batch iterator,
    alliance/core/exports.py): rows, and the peak of memory allocated meanwhile (tracemalloc), which
    stays flat when the rows stream in batches instead of being loaded at once."""
    import tracemalloc

    from alliance.core import exports
    from alliance.core.access import principal_for
    from alliance.core.models import User
    from alliance.targets import cockpit, supervision  # noqa: F401  (their export kinds)

    await db.connect(url)
    try:
        year = datetime.now(UTC).astimezone(LOCAL_TZ).year
        for username in ("coord.district", "coord.city"):
            principal = await principal_for(await User.get(username=username))
            # The promises CSV classifies every request of the year (one grouped query): the district's only.
            names = ("unserved_needs_csv", "cockpit_csv")
            for name in names + (("promises_csv",) if username == "coord.district" else ()):
                kind = exports.kind_of(name)
                tracemalloc.start()
                started, rows, first = time.perf_counter(), 0, None
                async for batch in kind.batches(principal, {"year": year, "region": principal.region_code}):
                    first = first if first is not None else time.perf_counter() - started
                    rows += len(batch)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(
                    f"  export {name} as {username}: {rows:,} rows in {time.perf_counter() - started:.1f} s "
                    f"(first batch after {first or 0:.1f} s), peak memory allocated {peak / 1e6:.1f} MB ({_machine()})"
                )
    finally:
        await Tortoise.close_connections()


async def ensure_admin(url: str) -> None:
    from alliance.core.models import User

    await db.connect(url)
    try:
        if not await User.exists(username="admin.bench"):
            await create_user("admin.bench", PASSWORD, Role.ADMIN, display_name="省")
    finally:
        await Tortoise.close_connections()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=40, help="per client, after the cold round")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its URL is printed)")
    parser.add_argument("--url", help="measure a database a --keep run left (no generation)")
    parser.add_argument("--database", help="the scratch database's name (default: one per process)")
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="skip timing the direct computation (the cron's refresh times it)",
    )
    parser.add_argument("--statements", action="store_true", help="print the statements of a page")
    args = parser.parse_args()
    embedded = None
    with tempfile.TemporaryDirectory(prefix="alliance-bench-cockpit-") as directory:
        workdir = Path(directory)
        admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or ""
        if not admin_url and not args.url:
            from alliance.core.embedded import start_embedded_postgres

            embedded = start_embedded_postgres(workdir / "pg", database="postgres")
            admin_url = embedded.url
        database = args.database or f"alliance_bench_cockpit_{os.getpid()}"
        if args.url:
            url, args.keep = args.url, True
        else:
            await _admin(admin_url, f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"')
            url = _with_database(admin_url, database)
        try:
            if args.url:
                await measure_all(url, workdir, args)
                return
            await db.migrate(url)
            await db.connect(url)
            await ensure_reference_data()  # need categories and flag rules
            await Tortoise.close_connections()
            print(f"generating {args.visits:,} completed visits in PostgreSQL …", flush=True)
            started = time.perf_counter()
            timings = await generate(url, args.visits)
            await accounts_and_targets(url, datetime.now(UTC).astimezone(LOCAL_TZ).year)
            total = time.perf_counter() - started
            steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
            print(f"  generated in {total:.1f} s ({steps})")
            await measure_all(url, workdir, args)
        finally:
            await Tortoise.close_connections()
            if args.keep and embedded is None:
                print(f"  kept {url}")
            else:
                await _admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())

"""Matching at scale: 100,000 open requests and 2,000 offerings, generated.

    .venv/bin/python bench/bench_matching.py [requests] [offerings] [seed]

On a fresh temporary SQLite database by default; with DATABASE_URL=postgres://... a fresh database
alliance_bench_<pid> is made on that server and dropped afterwards. Prints every figure:
- the full re-match (twice: into an empty match table, then replacing every request's matches),
- the matching of one new request (50 of them: median and p95),
- brute-force all-pairs geopy on a sample of requests, extrapolated, and the speed-up; the sample's
  candidates are also checked against what the engine stored,
- the proposed allocation (min-cost flow) against greedy nearest-first on the same instance, for one
  district with tight capacity and for the whole city: time, requests served, total distance,
- on PostgreSQL only: the claim board's first page from the real app (`alliance serve --workers 2`,
  a subprocess; Redis at BENCH_REDIS_URL, default redis://127.0.0.1:6379/13) for a dispatcher of the
  partner with the most matches, 20 keep-alive clients logged in through the login form, one warm-up
  round, then 40 requests each: p50 / p95 / max and pages per second; as served, then again with the
  page each process keeps turned off (ALLIANCE_BOARD_KEEP_SECONDS=0), so both are on record; and
  as served while another partner claims and releases requests of that first page 5 times a second
  (issue 20: p95 <= 100 ms under churn), with how long a claim takes to leave the board it touches.
Goals on a 2-core machine: full re-match <= 10 s at 100k x 2k and <= 60 s and 4 GiB at 1M x 20k
(issue 20), one request <= 20 ms, the allocation proposal for a district <= 10 s, the board's first
page <= 100 ms p95 under 20 concurrent clients on PostgreSQL. Each figure is printed beside the
machine's core count and load average; peak RSS is this process's (the database server's is apart).

BENCH_PARTS=matching runs only the matching figures (full re-matches, one new request, the
allocation), leaving out the brute-force sample and the board: the province-size runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402
from geopy.distance import geodesic  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from alliance.core import db  # noqa: E402
from alliance.core.accounts import create_user  # noqa: E402
from alliance.core.codes import FlagCode, NeedCode, Role  # noqa: E402
from alliance.core.models import Region  # noqa: E402
from alliance.core.timeutil import utc_now  # noqa: E402
from alliance.households.reference import ensure_reference_data  # noqa: E402
from alliance.matching.allocation import greedy_allocation, instance_for_region, solve_allocation  # noqa: E402
from alliance.matching.candidates import MAX_MATCHES_PER_REQUEST, OfferingIndex, month_key  # noqa: E402
from alliance.matching.matching import match_all, match_requests  # noqa: E402
from alliance.matching.models import Match  # noqa: E402

# Wenzhou's extent, roughly: 11 districts and counties over about 12,000 km².
SOUTH, NORTH, WEST, EAST = 27.0, 28.6, 119.6, 121.2
DISTRICTS, TOWNS_PER_DISTRICT, COMMUNITIES_PER_TOWN = 11, 10, 10
BOARD_CLIENTS, BOARD_REQUESTS = 20, 40
BOARD_USER, BOARD_PASSWORD = "bench.dispatcher", "bench-board-1"


def machine() -> str:
    """Beside every figure: the machine is shared."""
    one, five, _fifteen = os.getloadavg()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"[{os.cpu_count()} cores, load {one:.1f}/{five:.1f}, peak RSS {peak:,.0f} MiB]"


def _holes(connection: Any, count: int) -> str:
    if connection.capabilities.dialect == "postgres":
        return ", ".join(f"${position}" for position in range(1, count + 1))
    return ", ".join("?" * count)


async def _insert(table: str, columns: list[str], rows: list[tuple]) -> None:
    connection = Tortoise.get_connection("default")
    names = ", ".join(f'"{column}"' for column in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({_holes(connection, len(columns))})'
    for start in range(0, len(rows), 20_000):
        await connection.execute_many(sql, [list(row) for row in rows[start : start + 20_000]])


async def generate(requests: int, offerings: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    now = utc_now()
    # Regions: city > districts > towns > communities, each with a point.
    regions: list[tuple] = [("330300", "温州市", "Wenzhou", "city", None, "/330300/", 1, 27.99, 120.70, now)]
    communities: list[tuple[str, float, float]] = []
    towns: list[str] = []
    districts: list[str] = []
    for d in range(DISTRICTS):
        district = f"3303{d + 2:02d}"
        dlat, dlon = rng.uniform(SOUTH + 0.15, NORTH - 0.15), rng.uniform(WEST + 0.15, EAST - 0.15)
        districts.append(district)
        regions.append(
            (
                district,
                f"区县{d}",
                f"District {d}",
                "district",
                "330300",
                f"/330300/{district}/",
                2,
                dlat,
                dlon,
                now,
            )
        )
        for t in range(TOWNS_PER_DISTRICT):
            town = f"{district}{t + 1:03d}"
            tlat, tlon = dlat + rng.uniform(-0.12, 0.12), dlon + rng.uniform(-0.12, 0.12)
            towns.append(town)
            regions.append(
                (
                    town,
                    f"街道{d}-{t}",
                    f"Town {d}-{t}",
                    "town",
                    district,
                    f"/330300/{district}/{town}/",
                    3,
                    tlat,
                    tlon,
                    now,
                )
            )
            for c in range(COMMUNITIES_PER_TOWN):
                community = f"{town}{c + 1:03d}"
                clat, clon = tlat + rng.uniform(-0.03, 0.03), tlon + rng.uniform(-0.03, 0.03)
                communities.append((community, clat, clon))
                regions.append(
                    (
                        community,
                        f"社区{d}-{t}-{c}",
                        "",
                        "community",
                        town,
                        f"/330300/{district}/{town}/{community}/",
                        4,
                        clat,
                        clon,
                        now,
                    )
                )
    await _insert(
        "region",
        ["code", "name", "name_en", "level", "parent_id", "path", "depth", "lat", "lon"],
        [row[:9] for row in regions],
    )
    # Households, one open request each; a third carry a second flag.
    flags = list(FlagCode)
    needs = list(NeedCode)
    households, flag_rows, request_rows = [], [], []
    for number in range(1, requests + 1):
        community, clat, clon = rng.choice(communities)
        lat, lon = clat + rng.gauss(0, 0.01), clon + rng.gauss(0, 0.01)
        households.append(
            (
                number,
                f"B-{number:07d}",
                f"户主{number}",
                "",
                community,
                lat,
                lon,
                "address",
                rng.randint(1, 5),
                "[]",
                "SMS",
                False,
                False,
                now,
                now,
                1,
            )
        )
        for code in {rng.choice(flags) for _ in range(rng.choice((1, 1, 2)))}:
            flag_rows.append((number, str(code), "bench", now, 2, True))
        need = rng.choice(needs)
        created = now - timedelta(days=rng.uniform(0, 120))
        request_rows.append(
            (number, number, str(need), "open", f"{number}:{need}", rng.randint(0, 100), False, created, now)
        )
    await _insert(
        "household",
        [
            "id",
            "external_id",
            "head_name",
            "address",
            "region_id",
            "lat",
            "lon",
            "location_precision",
            "member_count",
            "accessibility",
            "contact_preference",
            "consent",
            "verified",
            "created_at",
            "updated_at",
            "card_serial",
        ],
        households,
    )
    await _insert("flag", ["household_id", "code", "source", "detected_at", "severity", "active"], flag_rows)
    await _insert(
        "service_request",
        [
            "id",
            "household_id",
            "need_id",
            "status",
            "active_key",
            "priority",
            "escalated",
            "created_at",
            "updated_at",
        ],
        request_rows,
    )
    # Partners (5 % suspended) and offerings: 70 % by radius, 30 % by regions; 30 % ask for flags.
    partner_count = max(1, offerings // 5)
    await _insert(
        "partner",
        [
            "id",
            "name",
            "kind",
            "status",
            "region_id",
            "description",
            "contact_name",
            "contact_phone",
            "created_at",
        ],
        [
            (
                p,
                f"机构{p}",
                "service_provider",
                "suspended" if rng.random() < 0.05 else "approved",
                rng.choice(districts),
                "",
                "",
                "",
                now,
            )
            for p in range(1, partner_count + 1)
        ],
    )
    offering_rows, links, months = [], [], []
    for o in range(1, offerings + 1):
        need = str(rng.choice(needs))
        eligibility = json.dumps(rng.sample([str(flag) for flag in flags], 2)) if rng.random() < 0.3 else "[]"
        capacity = rng.randint(5, 60)
        if rng.random() < 0.7:
            _code, clat, clon = rng.choice(communities)
            base = (clat + rng.uniform(-0.02, 0.02), clon + rng.uniform(-0.02, 0.02), rng.uniform(2, 25))
        else:
            base = (None, None, None)
            for code in (
                rng.sample(towns, rng.randint(1, 3)) if rng.random() < 0.7 else [rng.choice(districts)]
            ):
                links.append((o, code))
        offering_rows.append(
            (
                o,
                rng.randint(1, partner_count),
                need,
                f"服务{o}",
                "",
                eligibility,
                *base,
                capacity,
                "home_visit",
                rng.random() > 0.03,
                now,
                now,
            )
        )
        if rng.random() < 0.5:
            months.append((o, month_key(now), rng.randint(0, capacity)))
    await _insert(
        "offering",
        [
            "id",
            "partner_id",
            "need_id",
            "title",
            "description",
            "eligibility_flags",
            "base_lat",
            "base_lon",
            "radius_km",
            "monthly_capacity",
            "delivery_mode",
            "active",
            "created_at",
            "updated_at",
        ],
        offering_rows,
    )
    await _insert("offering_region", ["offering_id", "region_id"], links)
    await _insert("offering_month", ["offering_id", "month", "claimed"], months)
    if Tortoise.get_connection("default").capabilities.dialect == "postgres":
        connection = Tortoise.get_connection("default")
        for table in ("household", "service_request", "partner", "offering"):
            await connection.execute_script(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))"
            )
        await connection.execute_script("ANALYZE")
    return {"districts": districts, "communities": communities, "rng": rng}


def brute_force_candidates(index: OfferingIndex, request: Any, now: Any) -> set[int]:
    """Every offering of the index against the request with geopy: the all-pairs reference."""
    found = set()
    for offering in index.offerings.values():
        if offering.need != request.need:
            continue
        if offering.eligibility and not (offering.eligibility & request.flags):
            continue
        covered = any(code in request.region_codes for code in offering.region_codes)
        if not covered and offering.lat is not None and offering.radius_km:
            covered = (
                geodesic((offering.lat, offering.lon), (request.lat, request.lon)).km <= offering.radius_km
            )
        if covered:
            found.add(offering.id)
    return found


async def brute_force_sample(sample_size: int, total_requests: int) -> dict[str, float]:
    """All pairs with geopy's geodesic (every offering with a radius, whatever its need), on a sample."""
    from alliance.matching.candidates import _load_requests

    index = await OfferingIndex.load()
    all_offerings = [o for o in index.offerings.values() if o.lat is not None and o.radius_km]
    requests = await _load_requests(None)
    sample = random.Random(1).sample(requests, sample_size)
    started = time.perf_counter()
    for request in sample:
        for offering in all_offerings:
            _km = geodesic((offering.lat, offering.lon), (request.lat, request.lon)).km
    per_request = (time.perf_counter() - started) / sample_size
    # Correctness: the engine's stored candidates are the brute-force set (or its best 20).
    now = utc_now()
    mismatches = 0
    for request in sample[:200]:
        expected = brute_force_candidates(index, request, now)
        stored = set(await Match.filter(request_id=request.id).values_list("offering_id", flat=True))
        capped = len(expected) > MAX_MATCHES_PER_REQUEST
        if (
            (stored != expected)
            if not capped
            else not (stored <= expected and len(stored) == MAX_MATCHES_PER_REQUEST)
        ):
            mismatches += 1
    return {
        "pairs_per_request": len(all_offerings),
        "seconds_per_request": per_request,
        "extrapolated_seconds": per_request * total_requests,
        "checked": min(200, sample_size),
        "mismatches": mismatches,
    }


async def new_request_times(world: dict[str, Any], count: int) -> list[float]:
    connection = Tortoise.get_connection("default")
    rng = world["rng"]
    times = []
    now = utc_now()
    for number in range(count):
        community, clat, clon = rng.choice(world["communities"])
        household_id = 10_000_000 + number
        need = str(rng.choice(list(NeedCode)))
        holes = _holes(connection, 16)
        await connection.execute_query(
            'INSERT INTO "household" ("id", "external_id", "head_name", "address", "region_id", "lat", "lon", '
            '"location_precision", "member_count", "accessibility", "contact_preference", "consent", "verified", '
            '"created_at", "updated_at", "card_serial") '
            f"VALUES ({holes})",
            [
                household_id,
                f"NEW-{number}",
                "新户",
                "",
                community,
                clat,
                clon,
                "address",
                2,
                "[]",
                "SMS",
                False,
                False,
                now,
                now,
                1,
            ],
        )
        holes = _holes(connection, 9)
        await connection.execute_query(
            'INSERT INTO "service_request" ("id", "household_id", "need_id", "status", "active_key", "priority", '
            f'"escalated", "created_at", "updated_at") VALUES ({holes})',
            [household_id, household_id, need, "open", f"{household_id}:{need}", 50, False, now, now],
        )
        started = time.perf_counter()
        await match_requests([household_id], notify=False)
        times.append(time.perf_counter() - started)
    return times


async def allocation_figures(region_path: str) -> dict[str, Any]:
    started = time.perf_counter()
    instance = await instance_for_region(region_path)
    load = time.perf_counter() - started
    greedy = greedy_allocation(instance)
    # The proposal is measured against greedy's figures: its own time excludes running greedy.
    flow = solve_allocation(instance, greedy)
    return {
        "requests": len(instance.priorities),
        "edges": len(instance.edges),
        "places": sum(instance.places.values()),
        "load_seconds": load,
        "flow": flow,
        "greedy": greedy,
    }


async def allocation_as_job(district_code: str) -> tuple[float, dict[str, Any]]:
    """A coordinator of the district asks for a proposal (the row and its outbox job, as the page
    does), and the worker's job function computes and stores it: the time the page waits for."""
    from alliance.core.access import principal_for
    from alliance.matching.allocation import request_allocation
    from workers.jobs import compute_allocation_job

    user = await create_user(
        "bench.coordinator", BOARD_PASSWORD, Role.COORDINATOR, region_code=district_code, display_name="协调"
    )
    proposal = await request_allocation(await principal_for(user), district_code)
    started = time.perf_counter()
    outcome = await compute_allocation_job({"job_try": 1}, proposal.id)
    return time.perf_counter() - started, outcome


def _print_allocation(title: str, figures: dict[str, Any]) -> None:
    flow, greedy = figures["flow"], figures["greedy"]
    print(
        f"{title}: {figures['requests']:,} requests, {figures['edges']:,} candidate edges, "
        f"{figures['places']:,} places (loaded in {figures['load_seconds']:.2f} s)"
    )
    for name, result in (("min-cost flow", flow), ("greedy nearest-first", greedy)):
        mean = result.total_distance_km / result.served if result.served else 0.0
        print(
            f"  {name:>21}: {result.seconds:7.3f} s, {result.served:,} served, "
            f"{result.total_distance_km:,.1f} km in total, {mean:.2f} km per request served"
        )


CHURN_PER_SECOND = 5


async def _churn(partner_id: int, request_ids: list[int], stop: asyncio.Event, probe: Any) -> dict[str, Any]:
    """Another partner claims and releases requests of the measured board's first page, CHURN_PER_SECOND
    a second (claim, release, claim...), through the services the pages use. After each claim, `probe`
    (a page client of the measured partner) reads the board until the request is gone: how long a claim
    takes to show on a board it touches."""
    from alliance.core.access import principal_for
    from alliance.core.models import User
    from alliance.matching.claims import claim_request, release_claim

    os.environ["ALLIANCE_CHURN_RELEASES"] = "1000000000"  # the churn rule would pause it at once
    user = await User.get_or_none(username="bench.churner") or await create_user(
        "bench.churner", BOARD_PASSWORD, Role.DISPATCHER, partner_id=partner_id, display_name="churn"
    )
    principal = await principal_for(await User.get(id=user.id))
    held: list[int] = []
    shown: list[float] = []
    done = 0
    turn = 0
    while not stop.is_set():
        started = time.perf_counter()
        if held and (turn % 2 == 1 or len(held) >= 3):
            await release_claim(principal, held.pop(0), "bench churn")
        else:
            free = [request_id for request_id in request_ids if request_id not in held]
            request_id = free[turn % len(free)]
            try:
                await claim_request(principal, request_id)
            except Exception:  # noqa: BLE001 - capacity or a race: try the next one
                turn += 1
                continue
            held.append(request_id)
            claimed_at = time.perf_counter()
            marker = f'id="request-{request_id}"'.encode()
            while time.perf_counter() - claimed_at < 5:
                _status, body = await probe.get("/board")
                if marker not in body:
                    shown.append(time.perf_counter() - claimed_at)
                    break
                await asyncio.sleep(0.02)
        done += 1
        turn += 1
        await asyncio.sleep(max(0.0, 1 / CHURN_PER_SECOND - (time.perf_counter() - started)))
    for request_id in held:
        await release_claim(principal, request_id, "bench churn over")
    return {"changes": done, "shown": shown}


async def board_figures(url: str) -> None:
    """The board's first page from the real app, for a dispatcher of the partner with the most matches:
    as served (each process keeps the partner's page until something changes it), the same while
    another partner claims and releases requests of that first page 5 times a second, and once more
    with the kept page turned off (ALLIANCE_BOARD_KEEP_SECONDS=0: every view counts and reads the
    page again). Plus how long a claim takes to disappear from the board it touches."""
    connection = Tortoise.get_connection("default")
    rows = await connection.execute_query_dict(
        'SELECT "partner_id", COUNT(*) AS "matches" FROM "request_match" '
        'GROUP BY "partner_id" ORDER BY COUNT(*) DESC LIMIT 1'
    )
    partner_id, matches = rows[0]["partner_id"], rows[0]["matches"]
    await create_user(BOARD_USER, BOARD_PASSWORD, Role.DISPATCHER, partner_id=partner_id, display_name="调度")
    # The churning partner: the one sharing most of the measured board's first 40 requests.
    first = [
        row["request_id"]
        for row in await connection.execute_query_dict(
            'SELECT "request_id" FROM "request_match" WHERE "partner_id" = $1 AND "partner_best" '
            'ORDER BY "score" DESC, "request_id" LIMIT 40',
            [partner_id],
        )
    ]
    shared = await connection.execute_query_dict(
        'SELECT "partner_id", array_agg(DISTINCT "request_id") AS "ids" FROM "request_match" '
        'WHERE "request_id" = ANY($1::int[]) AND "partner_id" <> $2 GROUP BY "partner_id" '
        'ORDER BY COUNT(DISTINCT "request_id") DESC LIMIT 1',
        [first, partner_id],
    )
    churner, churned = shared[0]["partner_id"], sorted(shared[0]["ids"])
    # The filtered page: the partner's most matched need within 10 km (a dispatcher narrowing the
    # board to what its volunteers can reach), its first page.
    [top] = await connection.execute_query_dict(
        'SELECT r."need_id" AS "need", COUNT(*) AS "matches" FROM "request_match" m '
        'JOIN "service_request" r ON r."id" = m."request_id" WHERE m."partner_id" = $1 '
        'GROUP BY r."need_id" ORDER BY COUNT(*) DESC LIMIT 1',
        [partner_id],
    )
    filtered = f"/board?need={top['need']}&distance=10"
    churning_title = f"another partner claiming and releasing {CHURN_PER_SECOND}/s"
    for title, path, keep, churn in (
        ("as served", "/board", "60", False),
        (f"as served, {churning_title}", "/board", "60", True),
        (f"filtered {filtered}, as served", filtered, "60", False),
        (f"filtered {filtered}, as served, {churning_title}", filtered, "60", True),
        ("kept page off", "/board", "0", False),
    ):
        with tempfile.TemporaryDirectory(prefix="alliance-bench-board-") as directory:
            server, base = _load.start_server(
                url,
                Path(directory),
                redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
                secret_key="bench-matching-secret-key-0123456789",
                ALLIANCE_PASSWORD_HASH_COST="low",
                ALLIANCE_BOARD_KEEP_SECONDS=keep,
                ALLIANCE_CHURN_RELEASES="1000000000",
            )
            churning = None
            stop = asyncio.Event()
            probe = None
            try:
                if churn:
                    login = await _load.logged_in(base, BOARD_USER, BOARD_PASSWORD)
                    cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
                    await login.aclose()
                    probe = _load.PageClient(base, cookie)
                    churning = asyncio.ensure_future(_churn(churner, churned, stop, probe))
                    await asyncio.sleep(1)
                figures = await _load.measure(
                    base,
                    BOARD_USER,
                    BOARD_PASSWORD,
                    path,
                    clients=BOARD_CLIENTS,
                    requests=BOARD_REQUESTS,
                    check=lambda status, body: status == 200 and b'id="request-' in body,
                )
                churned_figures = None
                if churning is not None:
                    stop.set()
                    churned_figures = await churning
            finally:
                stop.set()
                if probe is not None:
                    await probe.close()
                _load.stop_server(server)
        p95 = figures["p95"] * 1000
        print(
            f"board first page ({title}) as a dispatcher of partner {partner_id} ({matches:,} matches), "
            f"alliance serve --workers 2: {BOARD_CLIENTS} clients x {BOARD_REQUESTS} requests: "
            f"p50 {figures['p50'] * 1000:.0f} ms, p95 {p95:.0f} ms, max {figures['max'] * 1000:.0f} ms, "
            f"{figures['per_second']:.0f} pages/s; warm-up round max {figures['cold_max'] * 1000:.0f} ms"
            + (f" [goal p95 <= 100 ms: {'met' if p95 <= 100 else 'NOT met'}]" if keep != "0" else "")
        )
        if churned_figures is not None:
            shown = sorted(churned_figures["shown"])
            worst = shown[-1] if shown else float("nan")
            print(
                f"  churn: partner {churner} made {churned_figures['changes']} claims and releases on "
                f"{len(churned)} requests of this board's first page; a claim gone from the board after "
                f"median {statistics.median(shown) * 1000 if shown else float('nan'):.0f} ms, "
                f"max {worst * 1000:.0f} ms over {len(shown)} claims [goal <= 1 s: "
                f"{'met' if shown and worst <= 1 else 'NOT met'}]"
            )


async def bench(requests: int, offerings: int, seed: int, url: str) -> None:
    await db.migrate(url)
    await db.connect(url)
    try:
        await ensure_reference_data()
        started = time.perf_counter()
        world = await generate(requests, offerings, seed)
        print(
            f"generated {requests:,} open requests and {offerings:,} offerings in {time.perf_counter() - started:.1f} s"
        )

        only_matching = os.environ.get("BENCH_PARTS", "") == "matching"
        cpu = time.process_time()
        first = await match_all(notify=False)
        first_cpu, cpu = time.process_time() - cpu, time.process_time()
        print(
            f"full re-match (empty match table): {first.seconds:.2f} s — {first.requests_matched:,} requests matched, "
            f"{first.requests_without_candidate:,} with no candidate, {first.matches_stored:,} matches stored; "
            f"this process's CPU {first_cpu:.1f} s {machine()}"
        )
        second = await match_all(notify=False)
        second_cpu = time.process_time() - cpu
        # Issue 20: 10 s for a city (100k x 2k), 60 s for a province (1M x 20k).
        goal = 10 if requests * offerings <= 2e8 else 60
        print(
            f"full re-match (replacing every match): {second.seconds:.2f} s — {second.requests_matched:,} matched, "
            f"{second.matches_stored:,} stored ({second.matches_stored / max(1, second.requests_matched):.1f} "
            f"per request; this process's CPU {second_cpu:.1f} s) "
            f"[goal <= {goal:.0f} s: {'met' if second.seconds <= goal else 'NOT met'}] {machine()}"
        )
        print(
            "  stages: "
            + ", ".join(
                f"{stage} {seconds:.1f} s" for stage, seconds in getattr(second, "stages", {}).items()
            )
        )
        started = time.perf_counter()
        index = await OfferingIndex.load()
        print(
            f"  offering index alone: {time.perf_counter() - started:.3f} s for {len(index.offerings):,} usable offerings, "
            f"{len(index.by_cell):,} grid cells"
        )

        times = await new_request_times(world, 50)
        median, p95 = statistics.median(times) * 1000, sorted(times)[int(len(times) * 0.95) - 1] * 1000
        print(
            f"one new request: median {median:.1f} ms, p95 {p95:.1f} ms, max {max(times) * 1000:.1f} ms over 50 "
            f"[goal <= 20 ms: {'met' if p95 <= 20 else 'NOT met'}] {machine()}"
        )

        if not only_matching:
            brute = await brute_force_sample(300, requests)
            print(
                f"brute force all pairs with geopy: {brute['pairs_per_request']:,} offerings per request, "
                f"{brute['seconds_per_request'] * 1000:.1f} ms per request, {brute['extrapolated_seconds']:.0f} s for all "
                f"{requests:,} requests (extrapolated from 300) -> speed-up x{brute['extrapolated_seconds'] / second.seconds:.0f} "
                f"against the full re-match"
            )
            print(f"  engine vs brute force on {brute['checked']} requests: {brute['mismatches']} mismatches")

        district = await Region.get(code=world["districts"][0])
        _print_allocation(
            f"allocation, one district ({district.code})", await allocation_figures(district.path)
        )
        seconds, outcome = await allocation_as_job(district.code)
        print(
            f"allocation proposal for district {district.code} as the worker's job (compute_allocation_job): "
            f"{seconds:.2f} s, {outcome} [goal <= 10 s: {'met' if seconds <= 10 else 'NOT met'}] {machine()}"
        )
        if only_matching:
            return
        _print_allocation("allocation, whole city", await allocation_figures("/330300/"))

        if Tortoise.get_connection("default").capabilities.dialect == "postgres":
            await board_figures(url)
        else:
            print("board first page under 20 clients: PostgreSQL only (run with DATABASE_URL=postgres://...)")
    finally:
        await db.disconnect()


def main() -> None:
    os.environ.setdefault("ALLIANCE_PASSWORD_HASH_COST", "low")  # the bench's one account
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    offerings = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20261124
    server = os.environ.get("DATABASE_URL", "")
    if server.startswith(("postgres://", "postgresql://")):
        import asyncpg

        name = f"alliance_bench_{os.environ.get('BENCH_DATABASE_TAG', '')}{os.getpid()}"
        admin = server.replace("postgres://", "postgresql://", 1)

        async def admin_execute(statement: str) -> None:
            connection = await asyncpg.connect(admin)
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
        try:
            url = db.with_database(admin, name)
            print(f"PostgreSQL: {url}")
            asyncio.run(bench(requests, offerings, seed, url))
        finally:
            asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    with tempfile.TemporaryDirectory(prefix="alliance-bench-") as directory:
        url = f"sqlite://{Path(directory) / 'bench.sqlite3'}"
        print(f"SQLite: {url}")
        asyncio.run(bench(requests, offerings, seed, url))


if __name__ == "__main__":
    main()

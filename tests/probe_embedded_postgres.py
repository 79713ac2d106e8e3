"""Run only by tests/test_harness.py, as a pytest session of its own beside others: the embedded
PostgreSQL of the session starts and keeps answering while other sessions start and reset pytest's
temporary root. Not collected by a normal run (the name does not start with test_)."""

from __future__ import annotations

import os

import asyncpg
import pytest


@pytest.fixture(autouse=True)
def clean_database():
    """Overrides the suite's per-test wipe: this probe needs no migrated schema."""
    yield


async def test_the_embedded_postgres_lives_outside_pytests_temporary_root(servers, tmp_path_factory):
    [postgres] = [server for server in servers.embedded if server.kind == "postgres"]
    pytest_root = tmp_path_factory.getbasetemp().parent
    assert postgres.private_dir is not None
    assert not postgres.private_dir.is_relative_to(pytest_root)
    # What any pytest session starting now does to its temporary root:
    os.chmod(pytest_root, 0o700)
    connection = await asyncpg.connect(servers.database_url)
    try:
        await connection.execute("CREATE TABLE probe (id serial PRIMARY KEY, note text)")
        await connection.execute("INSERT INTO probe (note) VALUES ('still answering')")
        assert await connection.fetchval("SELECT note FROM probe") == "still answering"
    finally:
        await connection.close()

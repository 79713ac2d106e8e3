"""An empty database is loaded from alliance/core/structure/ instead of replaying the migration chain:
the script must be exactly what the chain builds, on this backend (`make structure` after a migration)."""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg

from alliance.core import db
from alliance.core.db import database_name, with_database
from tools.structure import comparable, dump

_MIGRATION_ROW = re.compile(r'INSERT INTO (public\.)?"?tortoise_migrations"? ')
ROOT = Path(__file__).resolve().parent.parent

_CHAIN = """
import asyncio, sys
from alliance.core import db
asyncio.run(db.migrate(sys.argv[1], from_structure=False))
"""


async def _scratch_database(servers, tmp_path: Path, label: str) -> str:
    if servers.database_url.startswith("sqlite"):
        return f"sqlite://{tmp_path / f'{label}.sqlite3'}"
    admin = servers.database_url.replace("postgres://", "postgresql://", 1)
    name = f"{database_name(admin)}_{label}"
    await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    # Dropped after the suite (from the server's maintenance database: the suite's own is gone by
    # then): the machine's server keeps nothing of a run.
    maintenance = with_database(admin, "postgres")
    servers.cleanup.append(
        lambda: asyncio.run(_admin(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    )
    return with_database(servers.database_url, name)


async def _admin(admin: str, *statements: str) -> None:
    connection = await asyncpg.connect(admin)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


# The year partitions (audit trail, notifications) are made by `alliance migrate` and the worker as
# the years come (alliance/core/partitions.py), not by the chain: the suite's database may hold some.
_YEAR_PARTITION = re.compile(r"(audit_entry|notification)_y\d{4}")
_NAMED_NOT_NULL = re.compile(r"CONSTRAINT \S+_not_null NOT NULL")


def _schema(script: str) -> list[tuple[str, str]]:
    """Each line of the schema under the statement it belongs to, in any order: tortoise orders the
    columns a migration adds by a hash that changes from process to process. Rows and where the
    sequences stand are left out (the suite's database holds the tests' rows)."""
    found, statement = [], ""
    for line in script.splitlines():
        if line.startswith(("INSERT", "SELECT pg_catalog.setval", "DELETE FROM")):
            continue
        if not line.startswith((" ", "\t", ")")):
            statement = line
        if _YEAR_PARTITION.search(statement) or _YEAR_PARTITION.search(line):
            continue
        # PostgreSQL 18 names NOT NULL constraints, and a partition made by the chain keeps its
        # table's names where one loaded from the (PostgreSQL 15) script gets its own: not schema.
        found.append((statement, _NAMED_NOT_NULL.sub("NOT NULL", line.strip().rstrip(","))))
    return sorted(found)


def _applied(script: str) -> list[str]:
    return sorted(line for line in script.splitlines() if _MIGRATION_ROW.match(line))


async def test_the_structure_script_is_what_the_migration_chain_builds(servers, tmp_path):
    chain_url = await _scratch_database(servers, tmp_path, "chain")
    # In another process: replaying the chain renders every model again and again (~40 s of CPU).
    subprocess.run([sys.executable, "-c", _CHAIN, chain_url], check=True, cwd=ROOT, timeout=600)
    chained = comparable(dump(chain_url))
    # The suite's own database was loaded from the script (tests/conftest.py migrates an empty one).
    loaded = comparable(dump(servers.database_url))
    loaded_schema, chained_schema = _schema(loaded), _schema(chained)
    assert loaded_schema == chained_schema, "run `make structure`: the schema differs from the chain's"
    assert _applied(loaded) == _applied(chained), "run `make structure`: a migration came after the script"
    script = comparable(db.structure_file(servers.database_url).read_text())
    # The rows the migrations write (not the suite's): the script holds the chain's.
    assert sorted(line for line in script.splitlines() if line.startswith("INSERT")) == sorted(
        line for line in chained.splitlines() if line.startswith("INSERT")
    )


async def test_an_empty_database_is_loaded_all_at_once_and_a_used_one_is_left_alone(servers, tmp_path):
    url = await _scratch_database(servers, tmp_path, "load")
    assert await db.structure_is_empty(url)
    await db.load_structure(url)
    assert not await db.structure_is_empty(url)
    if url.startswith("sqlite"):
        assert oct(os.stat(url.removeprefix("sqlite://")).st_mode & 0o777) == "0o600"
    # Loading again into a database that has tables fails as a whole (the tables exist): nothing half.
    before = dump(url)
    try:
        await db.load_structure(url)
    except Exception:
        pass
    else:
        raise AssertionError("a second load into a used database must fail")
    assert dump(url) == before

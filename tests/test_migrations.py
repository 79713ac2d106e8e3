"""The checked-in migrations describe exactly the models: a model change without a migration fails."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from alliance.core.db import database_name, tortoise_config, with_database

ROOT = Path(__file__).resolve().parent.parent


async def test_models_and_checked_in_migrations_agree(servers):
    apps_config = tortoise_config(servers.database_url)["apps"]
    pending = await MigrationAutodetector(Tortoise.apps, apps_config).changes()
    described = [str(operation) for writer in pending for operation in writer.operations]
    assert not pending, f"models changed without a migration (run makemigrations): {described}"


_PG_INDEXES = (
    "SELECT t.relname AS table_name, i.indisunique AS is_unique, "
    "array_to_string(array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o), ',') AS columns "
    "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace "
    "WHERE s.nspname = 'public' AND t.relname <> 'tortoise_migrations' AND NOT t.relispartition"
)
_PG_KEYS = (
    "SELECT conrelid::regclass::text AS table_name, confrelid::regclass::text AS target, "
    "(SELECT attname FROM pg_attribute WHERE attrelid = conrelid AND attnum = conkey[1]) AS column_name "
    "FROM pg_constraint WHERE contype = 'f' "
    "AND NOT conrelid::regclass::text ~ '^(audit_entry|notification)_(default|y[0-9]{4})$'"
)


async def _schema_of(url: str) -> set[tuple]:
    """Every index (table, columns, unique) and foreign key (table, column, referenced table)."""
    found: set[tuple] = set()
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            tables = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name <> 'tortoise_migrations'"
            ).fetchall()
            for (table,) in tables:
                for _seq, name, unique, *_rest in connection.execute(f'PRAGMA index_list("{table}")'):
                    columns = [row[2] for row in connection.execute(f'PRAGMA index_info("{name}")')]
                    found.add((table, ",".join(columns), bool(unique)))
                for key in connection.execute(f'PRAGMA foreign_key_list("{table}")'):
                    found.add((table, "fk", key[3], key[2]))
        finally:
            connection.close()
        return found
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        for row in await connection.fetch(_PG_INDEXES):
            found.add((row["table_name"], row["columns"], bool(row["is_unique"])))
        for row in await connection.fetch(_PG_KEYS):
            found.add((row["table_name"], "fk", row["column_name"], row["target"]))
    finally:
        await connection.close()
    return found


_UNPARTITIONED = {
    ("audit_entry", "id", True),
    ("audit_household", "fk", "entry_id", "audit_entry"),
    ("notification", "id", True),
    ("notification", "dedupe_key", True),
}
_PARTITIONED = {
    ("audit_entry", "id,at", True),
    ("notification", "id,created_at", True),
    ("notification", "dedupe_key", False),
}
# Partial indexes the models cannot declare (migration 0040): the requests still waiting.
_PARTIAL = {("service_request", "id", False), ("service_request", "created_at,id", False)}

_GENERATE = """
import asyncio, sys
from tortoise import Tortoise
from alliance.core.db import database_name, tortoise_config, with_database

async def main():
    await Tortoise.init(config=tortoise_config(sys.argv[1]))
    await Tortoise.generate_schemas()
    await Tortoise.close_connections()

asyncio.run(main())
"""


async def test_migrations_build_every_index_and_key_the_models_declare(servers, tmp_path):
    """The migrated database against one built straight from the models (in another process): the
    same indexes, unique constraints and foreign keys. A field added with db_index once came without
    its index."""
    if servers.database_url.startswith("sqlite"):
        fresh_url = f"sqlite://{tmp_path / 'fresh.sqlite3'}"
    else:
        admin = servers.database_url.replace("postgres://", "postgresql://", 1)
        name = f"{database_name(admin)}_fresh"
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
        fresh_url = with_database(servers.database_url, name)
    subprocess.run([sys.executable, "-c", _GENERATE, fresh_url], check=True, cwd=ROOT, timeout=120)
    migrated, generated = await _schema_of(servers.database_url), await _schema_of(fresh_url)
    if not fresh_url.startswith("sqlite"):
        # Migrations 0038 and 0042 partition the audit trail and the notifications by year on
        # PostgreSQL: their keys hold the year's column, no foreign key can point at a partitioned
        # table's id alone, and the notifications' dedupe keys are unique in a table of their own.
        generated = (generated - _UNPARTITIONED) | _PARTITIONED
    generated |= _PARTIAL
    if not fresh_url.startswith("sqlite"):
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.close()
    assert migrated - generated == set() and generated - migrated == set(), (
        sorted(migrated - generated, key=str),
        sorted(generated - migrated, key=str),
    )

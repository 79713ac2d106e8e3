"""Every column that holds encrypted personal data, and the batch work over them: converting the
plaintext of an older release (migration 0021), re-encrypting under a new data key and recomputing
the blind indexes under a new index key (`alliance keys rotate` / `rotate-index`, docs/security.md).

Plain SQL on a connection, so the migration (which has no models) and the command share it. Every
row is rewritten by one UPDATE that names its old value (compare-and-set): a process killed at any
point leaves each row under the old key or the new one, never lost, and a run started again picks
up the rows still under an old key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from alliance.core import crypto

BATCH_SIZE = 500


@dataclass(frozen=True)
class Column:
    table: str
    column: str
    purpose: str
    # A JSON record whose "id_number" and "phone" keys are sealed, rather than a text column.
    sealed_record: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("household", "id_number_enc", "household.id_number"),
    Column("household", "phone_enc", "household.phone"),
    Column("volunteer", "phone", "volunteer.phone"),
    Column("notification", "recipient", "notification.recipient"),
    Column("intake_rejected_row", "record", "intake_row", sealed_record=True),
    Column("intake_conflict", "record", "intake_row", sealed_record=True),
)


def _postgres(client: BaseDBAsyncClient) -> bool:
    return client.capabilities.dialect == "postgres"


def _p(client: BaseDBAsyncClient, position: int) -> str:
    return f"${position}" if _postgres(client) else "?"


def _as_text(client: BaseDBAsyncClient, column: str) -> str:
    return f'"{column}"::text' if _postgres(client) else f'"{column}"'


def _json_param(client: BaseDBAsyncClient, position: int) -> str:
    return f"CAST({_p(client, position)}::text AS jsonb)" if _postgres(client) else _p(client, position)


def _load_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def _rows(client: BaseDBAsyncClient, sql: str, values: list[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in await client.execute_query_dict(sql, values)]


async def _rewrite(
    client: BaseDBAsyncClient,
    column: Column,
    where: str,
    change: Callable[[Any], Any],
    batch_size: int,
    max_batches: int | None = None,
) -> int:
    """Rewrite `column` in every row matching `where`, batch by batch in id order, each batch in
    its own transaction, each row only if it still holds what was read. Returns rows rewritten."""
    table, name = column.table, column.column
    last_id, written, batches = 0, 0, 0
    while max_batches is None or batches < max_batches:
        found = await _rows(
            client,
            f'SELECT "id", "{name}" AS "value" FROM "{table}" WHERE "id" > {_p(client, 1)} AND {where} '
            f'ORDER BY "id" LIMIT {int(batch_size)}',
            [last_id],
        )
        if not found:
            break
        updates = []
        for row in found:
            old = row["value"]
            new = change(old)
            if new != old:
                if column.sealed_record:
                    updates.append([json.dumps(new, ensure_ascii=False), row["id"], _text_of(old)])
                else:
                    updates.append([new, row["id"], old])
        if updates:
            value_param = _json_param(client, 1) if column.sealed_record else _p(client, 1)
            same = (
                f"{_as_text(client, name)} = {_p(client, 3)}"
                if not column.sealed_record
                else (f"{_as_text(client, name)} = {_p(client, 3)}")
            )
            async with client._in_transaction() as connection:
                await connection.execute_many(
                    f'UPDATE "{table}" SET "{name}" = {value_param} WHERE "id" = {_p(client, 2)} AND {same}',
                    updates,
                )
            written += len(updates)
        last_id = found[-1]["id"]
        batches += 1
        await asyncio.sleep(0)
    return written


def _text_of(value: Any) -> Any:
    # A JSON column read back as text compares with its text form (PostgreSQL normalises jsonb).
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --- the migration from plaintext ---------------------------------------------------------------


async def convert_plaintext_columns(client: BaseDBAsyncClient) -> None:
    """Migration 0021: add the encrypted household columns, encrypt and index every existing row,
    then drop the plaintext columns; encrypt volunteers' phones, notification recipients and the ID
    numbers and phones inside stored intake rows in place; hash the intake records' phone|address."""
    postgres = _postgres(client)
    for name in ("id_number_enc", "phone_enc"):
        await client.execute_script(f'ALTER TABLE "household" ADD COLUMN "{name}" VARCHAR(160)')
    if postgres:
        await client.execute_script(
            'ALTER TABLE "volunteer" ALTER COLUMN "phone" TYPE VARCHAR(160); '
            'ALTER TABLE "notification" ALTER COLUMN "recipient" TYPE VARCHAR(160)'
        )
    last_id = 0
    while True:
        found = await _rows(
            client,
            f'SELECT "id", "id_number", "phone" FROM "household" WHERE "id" > {_p(client, 1)} '
            f'ORDER BY "id" LIMIT {BATCH_SIZE}',
            [last_id],
        )
        if not found:
            break
        await client.execute_many(
            f'UPDATE "household" SET "id_number_enc" = {_p(client, 1)}, "id_number_index" = {_p(client, 2)}, '
            f'"phone_enc" = {_p(client, 3)}, "phone_index" = {_p(client, 4)} WHERE "id" = {_p(client, 5)}',
            [
                [
                    crypto.encrypt("household.id_number", row["id_number"] or None),
                    crypto.id_number_index(row["id_number"]),
                    crypto.encrypt("household.phone", row["phone"] or None),
                    crypto.phone_index(row["phone"]),
                    row["id"],
                ]
                for row in found
            ],
        )
        last_id = found[-1]["id"]
    await _rewrite(
        client,
        Column("intake_record", "phone_address", ""),
        '"phone_address" IS NOT NULL',
        _hash_legacy_phone_address,
        BATCH_SIZE,
    )
    for column in COLUMNS[2:]:
        await _rewrite(client, column, _unencrypted(client, column), _encrypt_change(column), BATCH_SIZE)
    if postgres:
        await client.execute_script('ALTER TABLE "household" DROP COLUMN "id_number", DROP COLUMN "phone"')
    else:
        # SQLite refuses to drop an indexed column: its index goes first.
        for index in await _rows(client, 'PRAGMA index_list("household")', []):
            columns = [
                info["name"] for info in await _rows(client, f'PRAGMA index_info("{index["name"]}")', [])
            ]
            if {"id_number", "phone"} & set(columns):
                await client.execute_script(f'DROP INDEX "{index["name"]}"')
        await client.execute_script('ALTER TABLE "household" DROP COLUMN "id_number"')
        await client.execute_script('ALTER TABLE "household" DROP COLUMN "phone"')
    for name in ("id_number_index", "phone_index"):
        await client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "idx_household_{name}" ON "household" ("{name}")'
        )


def _hash_legacy_phone_address(value: str | None) -> str | None:
    # Before: "phone|address" in clear. A 64-character hex value is already a hash.
    if not value or "|" not in value:
        return value
    phone, address = value.split("|", 1)
    return crypto.blind_index("phone_address", f"{crypto.normalise_phone_digits(phone)}|{address}")


def _unencrypted(client: BaseDBAsyncClient, column: Column) -> str:
    text = _as_text(client, column.column)
    if column.sealed_record:
        return f"({text} LIKE '%\"id_number\"%' OR {text} LIKE '%\"phone\"%')"
    return f"\"{column.column}\" IS NOT NULL AND \"{column.column}\" <> '' AND {text} NOT LIKE '{crypto.PREFIX}%'"


def _encrypt_change(column: Column) -> Callable[[Any], Any]:
    if column.sealed_record:
        return lambda value: crypto.seal_record(_load_json(value), column.purpose)
    return lambda value: crypto.encrypt(column.purpose, value)


# --- rotation ----------------------------------------------------------------------------------


@dataclass
class RotationReport:
    new_key: int
    rewritten: int
    remaining: int
    retired: list[int]


def _under_old_key(client: BaseDBAsyncClient, column: Column, active: int) -> str:
    text = _as_text(client, column.column)
    if column.sealed_record:
        return f"{text} LIKE '%{crypto.PREFIX}%' AND {text} NOT LIKE '%{crypto.PREFIX}{active}:%'"
    return f"{text} LIKE '{crypto.PREFIX}%' AND {text} NOT LIKE '{crypto.PREFIX}{active}:%'"


def _reencrypt_change(column: Column) -> Callable[[Any], Any]:
    if column.sealed_record:
        return lambda value: crypto.reseal_record(_load_json(value), column.purpose)
    return lambda value: crypto.reencrypt(column.purpose, value)


async def count_under_old_keys(client: BaseDBAsyncClient) -> int:
    active = crypto.keyring().active_data_key
    total = 0
    for column in COLUMNS:
        rows = await _rows(
            client,
            f'SELECT COUNT(*) AS "n" FROM "{column.table}" WHERE {_under_old_key(client, column, active)}',
            [],
        )
        total += int(rows[0]["n"])
    return total


def start_data_key_rotation() -> int:
    """Add a new data key and make it the active one (new writes use it at once); an interrupted
    rotation (an old key still live) is resumed instead. Returns the active key id."""
    ring = crypto.keyring(force=True)
    if len(ring.data_keys) > 1:
        return ring.active_data_key
    new_id = max([*ring.data_keys, *ring.retired]) + 1
    ring.data_keys[new_id] = crypto.AESGCM.generate_key(256)
    ring.active_data_key = new_id
    crypto.save_keyring(ring)
    return new_id


async def reencrypt_rows(
    client: BaseDBAsyncClient, batch_size: int = BATCH_SIZE, max_batches: int | None = None
) -> int:
    """Rewrite every value still under an old data key under the active one; returns how many."""
    active = crypto.keyring(force=True).active_data_key
    rewritten = 0
    for column in COLUMNS:
        rewritten += await _rewrite(
            client,
            column,
            _under_old_key(client, column, active),
            _reencrypt_change(column),
            batch_size,
            max_batches,
        )
    return rewritten


async def retire_old_data_keys(client: BaseDBAsyncClient) -> list[int]:
    """Drop every data key but the active one, once no row uses them. Another process may have
    written with a key it read before the rotation began: it re-reads the keyring within a second,
    so the last sweep runs after a pause."""
    await asyncio.sleep(crypto.RELOAD_EVERY_SECONDS * 2)
    await reencrypt_rows(client)
    if await count_under_old_keys(client):
        return []
    ring = crypto.keyring(force=True)
    old = [key_id for key_id in ring.data_keys if key_id != ring.active_data_key]
    for key_id in old:
        del ring.data_keys[key_id]
        ring.retired.append(key_id)
    if old:
        crypto.save_keyring(ring)
    return old


async def rotate_data_key(
    client: BaseDBAsyncClient, batch_size: int = BATCH_SIZE, max_batches: int | None = None
) -> RotationReport:
    new_key = start_data_key_rotation()
    rewritten = await reencrypt_rows(client, batch_size, max_batches)
    if max_batches is not None:
        return RotationReport(new_key, rewritten, await count_under_old_keys(client), [])
    retired = await retire_old_data_keys(client)
    return RotationReport(new_key, rewritten, await count_under_old_keys(client), retired)


async def rotate_index_key(client: BaseDBAsyncClient, batch_size: int = BATCH_SIZE) -> RotationReport:
    """A new index key: active at once (lookups meanwhile try both keys), every household's and
    intake record's blind index recomputed in place from the decrypted value, then the old index
    key dropped. Safe to run again after a kill: it recomputes everything."""
    ring = crypto.keyring(force=True)
    if len(ring.index_keys) == 1:
        new_id = max([*ring.index_keys, *ring.retired_index]) + 1
        ring.index_keys[new_id] = crypto.secrets.token_bytes(32)
        ring.active_index_key = new_id
        crypto.save_keyring(ring)
    active = ring.active_index_key
    rewritten, last_id = 0, 0
    while True:
        found = await _rows(
            client,
            f'SELECT h."id", h."id_number_enc", h."phone_enc", h."address", r."id" AS "record_id" '
            f'FROM "household" h LEFT JOIN "intake_record" r ON r."household_id" = h."id" '
            f'WHERE h."id" > {_p(client, 1)} ORDER BY h."id" LIMIT {int(batch_size)}',
            [last_id],
        )
        if not found:
            break
        households, records = [], []
        for row in found:
            id_number = crypto.decrypt("household.id_number", row["id_number_enc"])
            phone = crypto.decrypt("household.phone", row["phone_enc"])
            households.append(
                [
                    crypto.id_number_index(id_number),
                    crypto.phone_index(phone),
                    row["id"],
                    row["phone_enc"] or "",
                ]
            )
            if row["record_id"] is not None:
                key = crypto.phone_address_key(phone, row["address"] or "")
                records.append([crypto.blind_index("phone_address", key), row["record_id"]])
        async with client._in_transaction() as connection:
            await connection.execute_many(
                f'UPDATE "household" SET "id_number_index" = {_p(client, 1)}, "phone_index" = {_p(client, 2)} '
                f'WHERE "id" = {_p(client, 3)} AND COALESCE("phone_enc", \'\') = {_p(client, 4)}',
                households,
            )
            if records:
                await connection.execute_many(
                    f'UPDATE "intake_record" SET "phone_address" = {_p(client, 1)} '
                    f'WHERE "id" = {_p(client, 2)} AND "phone_address" IS NOT NULL',
                    records,
                )
        rewritten += len(households)
        last_id = found[-1]["id"]
    ring = crypto.keyring(force=True)
    old = [key_id for key_id in ring.index_keys if key_id != ring.active_index_key]
    for key_id in old:
        del ring.index_keys[key_id]
        ring.retired_index.append(key_id)
    if old:
        crypto.save_keyring(ring)
    return RotationReport(active, rewritten, 0, old)

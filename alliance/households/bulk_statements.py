"""Bulk SQL for the import: SELECT ... IN, INSERT (COPY on PostgreSQL), UPDATE, no model instances."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from typing import Any

import asyncpg
from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model

from alliance.core.crypto import EncryptedField, SealedJSONField
from alliance.core.timeutil import utc_now


def _params(connection: BaseDBAsyncClient, count: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":
        return [f"${position}" for position in range(1, count + 1)]
    return ["?"] * count


def _json_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if value
        else "[]"
        if isinstance(value, list)
        else "{}"
    )


def _encoder(field_object: fields.Field) -> Callable[[Any], Any] | None:
    if isinstance(field_object, EncryptedField):
        # Encrypted here, on the way to the COPY or the INSERT: plans carry plaintext.
        return lambda value: field_object.to_db_value(value, None)
    if isinstance(field_object, SealedJSONField):
        return lambda value: _json_text(
            field_object.to_db_value(value, None) if isinstance(value, dict) else value
        )
    if isinstance(field_object, fields.JSONField):
        return _json_text
    return None


def _encoders(model: type[Model], columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Per column, how a value is sent: JSON fields as text, encrypted fields encrypted; None where
    the value goes as it is. Callers pass codes as plain strings (an enum's .value), so nothing
    else needs converting."""
    meta = model._meta
    return [
        _encoder(meta.fields_map[meta.fields_db_projection_reverse.get(column, column)]) for column in columns
    ]


def _encode_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    tail: Sequence[Any] = (),
) -> Sequence[tuple[Any, ...]]:
    """The rows as sent: each column that needs it encoded, and `tail` (values for the last columns,
    the same in every row) appended. Column by column: the rows are taken apart with zip and put
    back together with it, which costs a third of building each row again in Python."""
    encoders = _encoders(model, columns)
    if not rows or (not tail and all(encode is None for encode in encoders)):
        return rows
    by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
    width = len(by_column)
    for position, encode in enumerate(encoders[:width]):
        if encode is not None:
            by_column[position] = list(map(encode, by_column[position]))
    for encode, value in zip(encoders[width:], tail, strict=True):
        by_column.append(repeat(value if encode is None else encode(value), len(rows)))  # type: ignore[arg-type]
    return list(zip(*by_column, strict=True))


def _column_defaults(model: type[Model], columns: Sequence[str]) -> dict[str, Any]:
    """The model's Python-side defaults for the columns an INSERT leaves out (the database has none)."""
    meta = model._meta
    defaults: dict[str, Any] = {}
    for name, column in meta.fields_db_projection.items():
        field_object = meta.fields_map[name]
        if column in columns or field_object.generated:
            continue
        if getattr(field_object, "auto_now_add", False) or getattr(field_object, "auto_now", False):
            defaults[column] = utc_now()
        elif field_object.default is not None:
            default = field_object.default
            default = default() if callable(default) else default
            defaults[column] = default.value if isinstance(default, Enum) else default
    return defaults


async def _select_in(
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    key: str,
    values: list[Any],
    where: str = "TRUE",
) -> list[dict[str, Any]]:
    """SELECT columns WHERE key is one of values (and `where`), in plain SQL: the ORM's query builder
    costs more than the query for a thousand keys. PostgreSQL gets one array parameter (= ANY), SQLite
    an IN list. JSON and datetime columns come back decoded, as the ORM would give them."""
    if not values:
        return []
    meta = model._meta
    names = ", ".join(f'"{column}"' for column in columns)
    table = meta.db_table
    if connection.capabilities.dialect == "postgres":
        (key_type,) = _postgres_array_types(model, (key,))
        _count, found = await connection.execute_query(
            f'SELECT {names} FROM "{table}" WHERE "{key}" = ANY($1::{key_type}[]) AND {where}', [list(values)]
        )
    else:
        placeholders = ", ".join("?" * len(values))
        _count, found = await connection.execute_query(
            f'SELECT {names} FROM "{table}" WHERE "{key}" IN ({placeholders}) AND {where}', list(values)
        )
    decoders = {}
    for column in columns:
        field_object = meta.fields_map[meta.fields_db_projection_reverse.get(column, column)]
        if isinstance(field_object, fields.JSONField | fields.DatetimeField | EncryptedField):
            decoders[column] = field_object.to_python_value
    rows = [dict(row) for row in found]
    for row in rows:
        for column, decode in decoders.items():
            if isinstance(row[column], str | bytes | dict):
                row[column] = decode(row[column])
    return rows


def _postgres_array_types(model: type[Model], columns: Sequence[str]) -> list[str]:
    meta = model._meta
    return [
        meta.fields_map[meta.fields_db_projection_reverse.get(column, column)].get_for_dialect(
            "postgres", "SQL_TYPE"
        )
        for column in columns
    ]


def _as_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[position] for row in rows] for position in range(width)]


@dataclass
class _Insert:
    """The rows of one bulk INSERT, ready to send: the model's defaults added, JSON as text."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]


def _prepare_insert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> _Insert:
    defaults = _column_defaults(model, columns) if rows else {}
    return _Insert(
        model._meta.db_table,
        (*columns, *defaults),
        _encode_rows(model, (*columns, *defaults), rows, tuple(defaults.values())),
    )


async def _prepare_insert_in_slices(
    model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]], size: int = 1_000
) -> _Insert:
    """`_prepare_insert`, `size` rows at a time, letting the other tasks run between two slices: an
    import's chunk encrypts ten thousand values, 30 ms in one go, while the chunk before waits to
    send its next statement."""
    defaults = _column_defaults(model, columns) if rows else {}
    every = (*columns, *defaults)
    encoded: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), size):
        encoded.extend(_encode_rows(model, every, rows[start : start + size], tuple(defaults.values())))
        await asyncio.sleep(0)
    return _Insert(model._meta.db_table, every, encoded)


async def _run_insert(connection: BaseDBAsyncClient, insert: _Insert) -> None:
    """PostgreSQL: binary COPY, faster than executemany or an INSERT over arrays. SQLite:
    executemany, which runs in-process anyway."""
    if not insert.rows:
        return
    if connection.capabilities.dialect == "postgres":
        await _copy(connection, insert.table, insert.columns, insert.rows)
        return
    names = ", ".join(f'"{column}"' for column in insert.columns)
    await connection.execute_many(
        f'INSERT INTO "{insert.table}" ({names}) VALUES ({", ".join(_params(connection, len(insert.columns)))})',
        insert.rows,
    )


async def _insert(
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    returning: Sequence[str] = (),
) -> list[dict[str, Any]] | None:
    """A bulk INSERT without model instances. With `returning` on PostgreSQL, the primary keys are
    drawn from the table's sequence first and the rows come back with them; SQLite returns None
    (the caller reads the rows back)."""
    if not rows:
        return []
    if returning and connection.capabilities.dialect == "postgres":
        pk = model._meta.db_pk_column
        ids = await _next_ids(connection, model, len(rows))
        await _run_insert(
            connection,
            _prepare_insert(
                model, (pk, *columns), [(pk_value, *row) for pk_value, row in zip(ids, rows, strict=True)]
            ),
        )
        positions = {column: position for position, column in enumerate(columns)}
        return [
            {column: pk_value if column == pk else row[positions[column]] for column in returning}
            for pk_value, row in zip(ids, rows, strict=True)
        ]
    await _run_insert(connection, _prepare_insert(model, columns, rows))
    return [] if connection.capabilities.dialect == "postgres" else None


async def insert_rows(
    connection: BaseDBAsyncClient, model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Rows of `model` written in bulk inside the caller's transaction, without model instances:
    one binary COPY on PostgreSQL, executemany on SQLite; the model's Python defaults fill the
    columns left out."""
    await _insert(connection, model, columns, rows)


async def _next_ids(connection: BaseDBAsyncClient, model: type[Model], count: int) -> list[int]:
    """`count` primary keys from the table's sequence (PostgreSQL), ascending like the ids an INSERT
    would give rows in order."""
    table, pk = model._meta.db_table, model._meta.db_pk_column
    _count, rows = await connection.execute_query(
        f"SELECT nextval(pg_get_serial_sequence('\"{table}\"', '{pk}')) FROM generate_series(1, $1)", [count]
    )
    return sorted(row[0] for row in rows)


async def _copy(
    connection: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Binary COPY into a PostgreSQL table on the transaction's own connection; the driver's errors
    become the ORM's, as for any other statement (a refused chunk is then retried row by row)."""
    try:
        async with connection.acquire_connection() as raw:
            await raw.copy_records_to_table(table, records=rows, columns=list(columns))
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(error) from error
    except (asyncpg.SyntaxOrAccessError, asyncpg.DataError) as error:
        raise OperationalError(error) from error


async def _update(
    connection: BaseDBAsyncClient, model: type[Model], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """A bulk UPDATE ... WHERE pk: each row is the new values followed by the primary key."""
    if not rows:
        return
    pk = model._meta.db_pk_column
    table = model._meta.db_table
    values = _encode_rows(model, (*columns, pk), rows)
    if connection.capabilities.dialect == "postgres":
        types = _postgres_array_types(model, (*columns, pk))
        aliases = [f"c{position}" for position in range(len(columns) + 1)]
        arrays = ", ".join(f"${position}::{sql_type}[]" for position, sql_type in enumerate(types, start=1))
        assignments = ", ".join(
            f'"{column}" = u.{alias}' for column, alias in zip(columns, aliases, strict=False)
        )
        await connection.execute_query(
            f'UPDATE "{table}" SET {assignments} FROM unnest({arrays}) AS u({", ".join(aliases)}) '
            f'WHERE "{table}"."{pk}" = u.{aliases[-1]}',
            _as_columns(values, len(columns) + 1),
        )
        return
    params = _params(connection, len(columns) + 1)
    assignments = ", ".join(f'"{column}" = {param}' for column, param in zip(columns, params, strict=False))
    await connection.execute_many(f'UPDATE "{table}" SET {assignments} WHERE "{pk}" = {params[-1]}', values)

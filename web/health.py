"""Health: is the database answering, is Redis answering."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from tortoise import Tortoise

from web.jobs import redis_client


async def _database_ok() -> tuple[bool, str]:
    try:
        await asyncio.wait_for(Tortoise.get_connection("default").execute_query("SELECT 1"), timeout=3)
        return True, "ok"
    except Exception as error:  # any failure is "down"; the message helps the operator
        return False, f"{type(error).__name__}: {error}"[:200]


async def _redis_ok(app: Starlette) -> tuple[bool, str]:
    try:
        client = redis_client(app)
        await asyncio.wait_for(client.ping(), timeout=3)
        return True, "ok"
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"[:200]


async def health_report(app: Starlette) -> dict[str, Any]:
    started = time.perf_counter()
    (db_ok, db_detail), (redis_ok, redis_detail) = await asyncio.gather(_database_ok(), _redis_ok(app))
    return {
        "ok": db_ok and redis_ok,
        "database": {"ok": db_ok, "detail": db_detail},
        "redis": {"ok": redis_ok, "detail": redis_detail},
        "seconds": round(time.perf_counter() - started, 4),
    }

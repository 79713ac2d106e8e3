"""What every `alliance` command module uses: the database connection around a command's work, and
one JSON object printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from alliance.core import db
from alliance.core.config import load_settings


def run_db(work: Callable[[], Awaitable[Any]], *, migrate_first: bool = True) -> Any:
    """Run `work` with the ORM connected to DATABASE_URL (after applying migrations)."""

    async def main() -> Any:
        settings = load_settings()
        if migrate_first:
            await db.migrate(settings.database_url)
        await db.connect(settings.database_url)
        try:
            from alliance.households.reference import ensure_reference_data

            await ensure_reference_data()
            return await work()
        finally:
            await db.disconnect()

    return asyncio.run(main())


def print_json(payload: dict[str, Any]) -> None:
    """Exactly one JSON object on one line (the `--json` form of a command)."""
    print(json.dumps(payload, ensure_ascii=False), flush=True)

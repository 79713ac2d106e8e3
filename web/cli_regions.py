"""`alliance region settings show|set CODE`: the region settings (alliance/visits/region_settings.py)
from the command line, through the same service as the page /admin/region-settings."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

OPTIONS = (
    ("claim_deadline_days", "N", "days a matched request may stay unclaimed before escalation (1-90)"),
    ("stale_claim_days", "N", "days a claim may stay unscheduled before its holder is warned (1-90)"),
    ("transfer_auto_approve_hours", "N", "hours before an unanswered transfer is approved (1-720)"),
    ("checkin_radius_m", "N", "check-in geofence in metres around the household (20-5000)"),
    ("verification_required", "yes|no", "verify households before matching"),
)


def register(commands: Any) -> None:
    """Add `region` to the top-level parser's subcommands (web/cli.py)."""
    region = commands.add_parser("region", help="a region's settings, inherited down the region tree")
    region_actions = region.add_subparsers(dest="region_command", required=True)
    settings = region_actions.add_parser("settings", help="show or set a region's settings (audited)")
    settings_actions = settings.add_subparsers(dest="action", required=True)
    show = settings_actions.add_parser("show", help="each setting in force and where it comes from")
    show.add_argument("code", help="region code")
    show.add_argument(
        "--as", dest="as_user", help="show as this coordinator or admin (default: the operator)"
    )
    show.add_argument("--json", action="store_true", help="print exactly one JSON object")
    change = settings_actions.add_parser(
        "set", help="set settings; the value 'inherit' (or '') removes the region's own value"
    )
    change.add_argument("code", help="region code")
    change.add_argument("--as", dest="as_user", required=True, help="the coordinator or admin acting")
    for key, metavar, text in OPTIONS:
        change.add_argument(
            f"--{key.replace('_', '-')}", dest=key, metavar=metavar, help=f"{text}, or inherit"
        )
    change.add_argument("--json", action="store_true", help="print exactly one JSON object")
    region.set_defaults(func=cmd_region)


def _plain(value: Any) -> Any:
    return "inherit" if value is None else value


def _report(page: Any) -> dict[str, Any]:
    return {
        "region": page.region.code,
        "name": page.region.name,
        "settings": {
            item.setting.key: {
                "own": item.own,
                "in_force": item.value,
                "source": item.source,
                "from_region": item.source_region.code if item.source_region is not None else None,
            }
            for item in page.settings
        },
        "history": [
            {
                "at": row.at.isoformat(),
                "by": row.actor,
                "region": row.region_code,
                "setting": row.setting,
                "from": row.old,
                "to": row.new,
            }
            for row in page.history
        ],
    }


def _print(page: Any) -> None:
    print(f"{page.region.code} {page.region.name}")
    for item in page.settings:
        source = item.source
        if item.source == "inherited" and item.source_region is not None:
            source = f"inherited from {item.source_region.code} {item.source_region.name}"
        print(f"  {item.setting.key:28} {item.value!s:>6}  own: {_plain(item.own)!s:7}  ({source})")
    for row in page.history[:10]:
        print(f"  {row.at:%Y-%m-%d %H:%M} {row.actor}: {row.setting} {row.old} -> {row.new}")


def cmd_region(args: argparse.Namespace) -> int:
    """`region settings show|set CODE` against DATABASE_URL (after migrating)."""
    from web.cli_support import run_db

    return run_db(lambda: region_command(args))


async def region_command(args: argparse.Namespace) -> int:
    """The command's work with the ORM connected: messages in English, exit status 2 when refused."""
    from alliance.core.i18n import language

    with language("en"):
        return await _settings(args)


async def _settings(args: argparse.Namespace) -> int:
    from alliance.core.access import principal_for
    from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
    from alliance.core.models import User
    from alliance.matching.matching import match_requests
    from alliance.visits import region_settings
    from alliance.visits.consent_effects import operator_principal

    if args.as_user:
        user = await User.get_or_none(username=args.as_user, is_active=True)
        if user is None:
            print(f"no active user {args.as_user!r} to act as (--as)", file=sys.stderr)
            return 2
        principal = await principal_for(user)
    else:
        principal = operator_principal()
    try:
        if args.action == "set":
            wanted = {key: getattr(args, key) for key, _m, _t in OPTIONS if getattr(args, key) is not None}
            if not wanted:
                print("nothing to set: name at least one setting (see --help)", file=sys.stderr)
                return 2
            change = await region_settings.set_region_settings(principal, args.code, wanted)
            if change.offered_request_ids:
                await match_requests(change.offered_request_ids)
        page = await region_settings.region_settings(principal, args.code)
    except InvalidInput as invalid:
        for key, message in invalid.errors.items():
            print(f"--{key.replace('_', '-')}: {message}", file=sys.stderr)
        return 2
    except (NotFound, PermissionDenied):
        who = args.as_user or "the operator"
        print(f"no region {args.code!r} that {who} may set", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_report(page), ensure_ascii=False), flush=True)
    else:
        _print(page)
    return 0

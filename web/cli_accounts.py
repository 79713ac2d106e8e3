"""`alliance createuser` and `alliance user deactivate|activate|set-password`: accounts from the
command line."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from alliance.core.codes import Role
from web.cli_support import run_db


def register(commands: Any) -> None:
    """Add `createuser` and `user` to the top-level parser's subcommands (web/cli.py)."""
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

    return run_db(work)


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

    return run_db(work)

"""`alliance partner`, `project` and `volunteer`: partner organisations (review, tokens, staff),
the year's projects, volunteers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from alliance.core.config import load_settings
from web.cli_support import print_json, run_db


def register_partner(commands: Any) -> None:
    """Add `partner` to the top-level parser's subcommands (web/cli.py)."""
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


def register_projects(commands: Any) -> None:
    """Add `project` and `volunteer` to the top-level parser's subcommands (web/cli.py)."""
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
            from alliance.events.partner_lifecycle import change_partner_status

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
            f"{len(outcome.released_request_ids)} claims released, {len(outcome.cancelled_visit_ids)} visits and "
            f"{len(outcome.cancelled_event_ids)} events called off"
        )
        return 0

    return run_db(work)


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

    return run_db(work)


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
                print_json({"volunteers": rows})
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

    return run_db(work)

"""Graded authorization: the ONE place that answers "may this user see / do this to this object".

Every route asks `require(principal, action)` and loads objects through `get_visible`; every list
starts from `visible(principal, action)`, so lists are filtered in the query, never after it.
Coordinators see their region's subtree (a prefix match on Region.path), community workers their
community, partner staff their own organisation, volunteers and households themselves.

Lifecycle decides powers: a deactivated user can do nothing; the staff of a pending partner may only
complete its profile; the staff of a suspended or closed partner may only read it (docs/security.md,
"Lifecycle and powers"). The principal carries both facts, loaded once, so no check costs a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from alliance.core.codes import (
    PARTNER_ROLES,
    REGION_ROLES,
    NeedCode,
    NotificationChannel,
    PartnerStatus,
    Role,
    VisitStatus,
)
from alliance.core.errors import NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.models import AuditEntry, Region, User
from alliance.households.models import Household, IntakeBatchRegion
from alliance.matching.models import AllocationProposal, Match, ProposalItem, ServiceRequest, TransferRequest
from alliance.notifications.models import Notification, Task
from alliance.partners.models import Offering, Partner, PartnerToken, Project, Volunteer, WebhookEndpoint
from alliance.visits.models import RegularDue, Visit, VolunteerBooking


class Action(StrEnum):
    VIEW_HOUSEHOLDS = "view_households"
    VIEW_PARTNER = "view_partner"
    EDIT_PARTNER_PROFILE = "edit_partner_profile"
    VIEW_OFFERINGS = "view_offerings"
    EDIT_OFFERINGS = "edit_offerings"
    REVIEW_PARTNERS = "review_partners"
    VIEW_OWN_VOLUNTEER = "view_own_volunteer"
    # Volunteers (alliance/visits/volunteers.py): a partner admin adds, edits, imports, approves and
    # deactivates its organisation's volunteers; a volunteer keeps their own profile and availability.
    VIEW_VOLUNTEERS = "view_volunteers"
    MANAGE_VOLUNTEERS = "manage_volunteers"
    EDIT_OWN_VOLUNTEER = "edit_own_volunteer"
    VIEW_OWN_HOUSEHOLD = "view_own_household"
    EDIT_NEED_RULES = "edit_need_rules"
    EDIT_HOLIDAYS = "edit_holidays"
    VIEW_PARTNER_REGULAR_VISITS = "view_partner_regular_visits"
    VIEW_INTAKE = "view_intake"
    MERGE_HOUSEHOLDS = "merge_households"
    VIEW_GAPS = "view_gaps"
    PROPOSE_ALLOCATION = "propose_allocation"
    RESPOND_PROPOSALS = "respond_proposals"
    # Claims (alliance/matching/claims.py, assignment.py, transfers.py): the board of open matched
    # requests; claiming (and asking for a transfer of) a request matched to the partner; holding one
    # (release, contact details); a coordinator's assign / move; closing; answering transfers; the
    # partner's API tokens.
    VIEW_BOARD = "view_board"
    CLAIM_REQUESTS = "claim_requests"
    HOLD_REQUESTS = "hold_requests"
    ASSIGN_REQUESTS = "assign_requests"
    CLOSE_REQUESTS = "close_requests"
    DECIDE_TRANSFERS = "decide_transfers"
    MANAGE_API_TOKENS = "manage_api_tokens"
    # The partner's webhook endpoints and their delivery log (alliance/partners/webhooks.py).
    MANAGE_WEBHOOKS = "manage_webhooks"
    # The notification outbox and its delivery states (alliance/notifications/notifications.py).
    VIEW_NOTIFICATIONS = "view_notifications"
    # Visits (alliance/visits/scheduling.py, household_responses.py): the holder's dispatcher schedules, moves, cancels and staffs them;
    # a community worker answers a visit for a household of their community (no phone, no skills).
    SCHEDULE_VISITS = "schedule_visits"
    RESPOND_FOR_HOUSEHOLDS = "respond_for_households"
    # Check-in and service records (alliance/visits/checkins.py, alliance/visits/service_records.py): a volunteer
    # checks in and out of the visits they are booked on; a coordinator checks in on a volunteer's
    # behalf, reviews far-away check-ins and corrects completed records, within the region.
    CHECK_IN = "check_in"
    OVERSEE_VISITS = "oversee_visits"
    # Events (alliance/events/): partner staff run their own organisation's events (publish,
    # invitations, registrations, attendance, outcomes); a community worker registers households of
    # the community and records their outcomes; a coordinator sees the hires of the region.
    MANAGE_EVENTS = "manage_events"
    REGISTER_FOR_HOUSEHOLDS = "register_for_households"
    VIEW_EVENT_HIRES = "view_event_hires"
    # Targets and the cockpit (alliance/targets/scopes.py, targets.py): a coordinator sees the figures of the
    # regions of their subtree (drill-down, exports, monthly report); an admin edits the yearly targets.
    VIEW_TARGETS = "view_targets"
    EDIT_TARGETS = "edit_targets"
    # A coordinator sets the yearly targets of the regions of their subtree (an admin: any region's);
    # an admin configures the year's projects (alliance/partners/projects.py).
    EDIT_REGION_TARGETS = "edit_region_targets"
    EDIT_PROJECTS = "edit_projects"
    # Accounts (alliance/core/accounts.py, password_resets.py): an admin lists every account,
    # deactivates, reactivates and signs it out everywhere; an admin, or a coordinator for the users
    # of their region's subtree, issues a single-use password-reset link.
    MANAGE_ACCOUNTS = "manage_accounts"
    ISSUE_PASSWORD_RESETS = "issue_password_resets"
    # Operations (docs/operations.md): the details of /healthz and /readyz and the workers'
    # heartbeats on the admin page; administrators only (local callers and the metrics token see
    # the probes' details too, web/operations.py).
    VIEW_OPERATIONS = "view_operations"
    # A partner's staff (alliance/partners/staff.py): its admin invites staff by a single-use link,
    # changes their roles, deactivates and reactivates them; the admin does so for any partner.
    MANAGE_STAFF = "manage_staff"
    # The audit trail (alliance/core/audit.py): an admin reads all of it, a coordinator the entries
    # about the households, partners and people of the region's subtree.
    VIEW_AUDIT = "view_audit"
    # Casework (alliance/notifications/inbox.py, tasks.py; alliance/households/consent.py): everyone
    # reads their own in-app notices and works their own tasks; a community worker (their
    # community) or coordinator (their subtree) verifies households and records their consent, a
    # household records its own; a coordinator sets the region's policies for their subtree.
    USE_INBOX = "use_inbox"
    WORK_TASKS = "work_tasks"
    VERIFY_HOUSEHOLDS = "verify_households"
    RECORD_CONSENT = "record_consent"
    SET_REGION_POLICY = "set_region_policy"
    # Casework (alliance/cases/): the household's coordinator (region) and community worker
    # (community) register households found offline, assess needs, write case notes, read the case
    # timeline and act for the household (ask for help, report a change, decline); a household
    # account does the last three for itself.
    CASEWORK = "casework"
    ACT_AS_HOUSEHOLD = "act_as_household"
    # Regular visits (alliance/visits/regular.py): a community worker visits the community's
    # households; a coordinator sets the region's visiting rhythm.
    VISIT_REGULARLY = "visit_regularly"
    SET_VISIT_RHYTHM = "set_visit_rhythm"
    # Eligibility checks (alliance/cases/eligibility.py): an approved partner's staff (or API token)
    # ask whether a consenting person qualifies for one of the partner's own active offerings.
    CHECK_ELIGIBILITY = "check_eligibility"
    SET_RESPONSE_PROMISES = "set_response_promises"


_PARTNER_CLAIM_ACTIONS = (
    Action.VIEW_BOARD,
    Action.CLAIM_REQUESTS,
    Action.HOLD_REQUESTS,
    Action.CLOSE_REQUESTS,
    Action.DECIDE_TRANSFERS,
    Action.SCHEDULE_VISITS,
)

# Everyone reads their own notices and works their own tasks, whatever their partner's standing.
_INBOX_ACTIONS = (Action.USE_INBOX, Action.WORK_TASKS)

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    # Answering a proposal claims for a partner: partner staff only.
    Role.ADMIN: frozenset(Action)
    - {
        Action.VIEW_OWN_VOLUNTEER,
        Action.EDIT_OWN_VOLUNTEER,
        Action.VIEW_OWN_HOUSEHOLD,
        Action.RESPOND_PROPOSALS,
        Action.CHECK_IN,
        Action.ACT_AS_HOUSEHOLD,
        Action.VISIT_REGULARLY,
        # A check is asked for one partner's offering: partner staff only.
        Action.CHECK_ELIGIBILITY,
    },
    Role.COORDINATOR: frozenset(
        {
            Action.VIEW_HOUSEHOLDS,
            Action.REVIEW_PARTNERS,
            Action.VIEW_PARTNER,
            Action.VIEW_INTAKE,
            Action.MERGE_HOUSEHOLDS,
            Action.VIEW_GAPS,
            Action.PROPOSE_ALLOCATION,
            Action.ASSIGN_REQUESTS,
            Action.CLOSE_REQUESTS,
            Action.VIEW_NOTIFICATIONS,
            Action.CASEWORK,
            Action.OVERSEE_VISITS,
            Action.VIEW_EVENT_HIRES,
            Action.VIEW_TARGETS,
            Action.EDIT_REGION_TARGETS,
            Action.ISSUE_PASSWORD_RESETS,
            Action.VIEW_AUDIT,
            Action.VERIFY_HOUSEHOLDS,
            Action.RECORD_CONSENT,
            Action.SET_REGION_POLICY,
            Action.SET_VISIT_RHYTHM,
            Action.SET_RESPONSE_PROMISES,
            *_INBOX_ACTIONS,
        }
    ),
    Role.COMMUNITY_WORKER: frozenset(
        {
            Action.VIEW_HOUSEHOLDS,
            Action.RESPOND_FOR_HOUSEHOLDS,
            Action.REGISTER_FOR_HOUSEHOLDS,
            Action.VERIFY_HOUSEHOLDS,
            Action.RECORD_CONSENT,
            Action.VISIT_REGULARLY,
            *_INBOX_ACTIONS,
            Action.CASEWORK,
        }
    ),
    Role.PARTNER_ADMIN: frozenset(
        {
            Action.VIEW_PARTNER,
            Action.EDIT_PARTNER_PROFILE,
            Action.VIEW_OFFERINGS,
            Action.EDIT_OFFERINGS,
            Action.RESPOND_PROPOSALS,
            *_PARTNER_CLAIM_ACTIONS,
            Action.MANAGE_API_TOKENS,
            Action.MANAGE_WEBHOOKS,
            Action.MANAGE_EVENTS,
            Action.MANAGE_STAFF,
            *_INBOX_ACTIONS,
            Action.VIEW_VOLUNTEERS,
            Action.MANAGE_VOLUNTEERS,
            Action.CHECK_ELIGIBILITY,
            Action.VIEW_PARTNER_REGULAR_VISITS,
        }
    ),
    Role.DISPATCHER: frozenset(
        {
            Action.CHECK_ELIGIBILITY,
            Action.VIEW_PARTNER_REGULAR_VISITS,
            Action.VIEW_VOLUNTEERS,
            Action.VIEW_PARTNER,
            Action.VIEW_OFFERINGS,
            Action.RESPOND_PROPOSALS,
            *_PARTNER_CLAIM_ACTIONS,
            Action.MANAGE_EVENTS,
            *_INBOX_ACTIONS,
        }
    ),
    Role.VOLUNTEER: frozenset(
        {Action.VIEW_OWN_VOLUNTEER, Action.EDIT_OWN_VOLUNTEER, Action.CHECK_IN, *_INBOX_ACTIONS}
    ),
    Role.HOUSEHOLD: frozenset(
        {Action.VIEW_OWN_HOUSEHOLD, Action.RECORD_CONSENT, Action.ACT_AS_HOUSEHOLD, *_INBOX_ACTIONS}
    ),
}


# What the staff of a partner keep while it is not approved: a pending partner completes its profile
# (nothing that touches households); a suspended or closed one can only read it.
PENDING_PARTNER_ACTIONS = frozenset({Action.VIEW_PARTNER, Action.EDIT_PARTNER_PROFILE, *_INBOX_ACTIONS})
WITHDRAWN_PARTNER_ACTIONS = frozenset({Action.VIEW_PARTNER, *_INBOX_ACTIONS})


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    region_code: str | None = None
    region_path: str | None = None
    region_name: str | None = None
    partner_id: int | None = None
    volunteer_id: int | None = None
    household_id: int | None = None
    # The lifecycle: the user's active flag and, for partner staff, their partner's status.
    active: bool = True
    partner_status: PartnerStatus | None = None
    # Set when a partner API token acts: the audit trail names the token, not its creator.
    token_id: int | None = None

    @property
    def is_partner_staff(self) -> bool:
        return self.role in PARTNER_ROLES


async def principal_for(user: User) -> Principal:
    region = await Region.get_or_none(code=user.region_id) if user.region_id else None  # type: ignore[attr-defined]
    partner_status = None
    if user.role in PARTNER_ROLES and user.partner_id is not None:  # type: ignore[attr-defined]
        status = await Partner.filter(id=user.partner_id).first().values_list("status", flat=True)  # type: ignore[attr-defined]
        partner_status = PartnerStatus(status) if status else None
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        region_code=region.code if region else None,
        region_path=region.path if region else None,
        region_name=region.name if region else None,
        partner_id=user.partner_id,  # type: ignore[attr-defined]
        volunteer_id=user.volunteer_id,  # type: ignore[attr-defined]
        household_id=user.household_id,  # type: ignore[attr-defined]
        active=user.is_active,
        partner_status=partner_status,
    )


def powers(principal: Principal) -> frozenset[Action]:
    """What the principal may do now: the role's actions, cut down by the lifecycle."""
    if not principal.active:
        return frozenset()
    actions = ROLE_ACTIONS.get(principal.role, frozenset())
    if not principal.is_partner_staff or principal.partner_status == PartnerStatus.APPROVED:
        return actions
    if principal.partner_status == PartnerStatus.PENDING:
        return actions & PENDING_PARTNER_ACTIONS
    # Suspended, closed, or a partner that is gone: read the profile at most.
    return actions & WITHDRAWN_PARTNER_ACTIONS


# The needs served in the household's home, and the request states in which a partner holds one: such a
# partner is responsible for the household's regular visit being coordinated with its own.
HOME_SERVICE_NEEDS = (NeedCode.HOME_CARE, NeedCode.HOME_REPAIR)
RESPONSIBLE_STATUSES = ("claimed", "scheduled")


def allows(principal: Principal, action: Action) -> bool:
    return action in powers(principal)


def lifecycle_refusal(principal: Principal) -> str | None:
    """Why the lifecycle withholds the role's powers, in words for the user; None when it does not."""
    if not principal.active:
        return _("This account is deactivated.")
    if not principal.is_partner_staff or principal.partner_status == PartnerStatus.APPROVED:
        return None
    if principal.partner_status == PartnerStatus.PENDING:
        return _("Your organisation is awaiting approval: until then you can only complete its profile.")
    if principal.partner_status == PartnerStatus.SUSPENDED:
        return _("Your organisation is suspended. Contact the civil-affairs bureau.")
    return _("Your organisation is closed.")


def require(principal: Principal, action: Action) -> None:
    if not allows(principal, action):
        # When the role would allow it, say that the lifecycle is why (suspended, deactivated, ...).
        reason = lifecycle_refusal(principal) if action in ROLE_ACTIONS.get(principal.role, ()) else None
        raise PermissionDenied(action, reason=reason)


async def partner_in_good_standing(partner_id: int | None) -> bool:
    """Jobs acting for a partner (event invitations) ask this before they reach any household."""
    if partner_id is None:
        return False
    status = await Partner.filter(id=partner_id).first().values_list("status", flat=True)
    return status == PartnerStatus.APPROVED


def _nothing(query: QuerySet) -> QuerySet:
    return query.filter(pk__isnull=True)


def _in_region(
    principal: Principal, query: QuerySet, path_field: str, roles: Iterable[Role] = (Role.COORDINATOR,)
) -> QuerySet:
    """Admins: every row; `roles` bound to a region: the rows whose `path_field` lies in its
    subtree (one prefix match); anyone else: none."""
    if principal.role == Role.ADMIN:
        return query
    if principal.role in roles and principal.region_path:
        return query.filter(**{f"{path_field}__startswith": principal.region_path})
    return _nothing(query)


def visible(principal: Principal, action: Action) -> QuerySet[Any]:
    """The rows `action` may touch for this principal, as a query to refine further."""
    require(principal, action)
    role = principal.role
    if action in (Action.VIEW_HOUSEHOLDS, Action.MERGE_HOUSEHOLDS):
        return _in_region(principal, Household.all(), "region__path", REGION_ROLES)
    if action == Action.VIEW_INTAKE:
        # Intake batches are seen through their per-region slices: a coordinator sees the slices
        # (counts, refused rows) of their subtree; rows with an unknown region only an admin sees.
        return _in_region(principal, IntakeBatchRegion.all(), "region__path")
    if action in (Action.VIEW_OWN_HOUSEHOLD, Action.ACT_AS_HOUSEHOLD):
        return Household.filter(id=principal.household_id or 0)
    if action == Action.VIEW_PARTNER_REGULAR_VISITS:
        # The regular-visit worklist rows of the households a partner is responsible for: those whose
        # home-service requests it holds (claimed or scheduled), so it can coordinate with the worker.
        if role == Role.ADMIN:
            return RegularDue.all()
        if principal.is_partner_staff and principal.partner_id:
            held = ServiceRequest.filter(
                claimed_by_id=principal.partner_id,
                status__in=RESPONSIBLE_STATUSES,
                need_id__in=HOME_SERVICE_NEEDS,
            ).values("household_id")
            return RegularDue.filter(household_id__in=Subquery(held))
        return _nothing(RegularDue.all())
    if action == Action.CASEWORK:
        return _in_region(principal, Household.all(), "region__path", REGION_ROLES)
    if action in (Action.VIEW_OWN_VOLUNTEER, Action.EDIT_OWN_VOLUNTEER):
        return Volunteer.filter(id=principal.volunteer_id or 0)
    if action in (Action.VIEW_VOLUNTEERS, Action.MANAGE_VOLUNTEERS):
        if role == Role.ADMIN:
            return Volunteer.all()
        if principal.is_partner_staff:
            return Volunteer.filter(partners__id=principal.partner_id or 0)
        return _nothing(Volunteer.all())
    if action in (Action.VIEW_PARTNER, Action.EDIT_PARTNER_PROFILE, Action.REVIEW_PARTNERS):
        query = Partner.all()
        if role == Role.ADMIN:
            return query
        if role == Role.COORDINATOR and principal.region_path:
            return query.filter(region__path__startswith=principal.region_path)
        if principal.is_partner_staff:
            return query.filter(id=principal.partner_id or 0)
        return _nothing(query)
    if action == Action.MANAGE_STAFF:
        # The partners whose staff the principal runs: all for the admin, its own for a partner admin.
        query = Partner.all()
        if role == Role.ADMIN:
            return query
        if role == Role.PARTNER_ADMIN:
            return query.filter(id=principal.partner_id or 0)
        return _nothing(query)
    if action in (Action.VIEW_OFFERINGS, Action.EDIT_OFFERINGS):
        query = Offering.all()
        if role == Role.ADMIN:
            return query
        if principal.is_partner_staff:
            return query.filter(partner_id=principal.partner_id or 0)
        return _nothing(query)
    if action == Action.CHECK_ELIGIBILITY:
        # Only the partner's own active offerings (partner staff only: see ROLE_ACTIONS).
        return Offering.filter(partner_id=principal.partner_id or 0, active=True)
    if action == Action.VIEW_GAPS:
        return _in_region(principal, ServiceRequest.all(), "household__region__path")
    if action == Action.PROPOSE_ALLOCATION:
        return _in_region(principal, AllocationProposal.all(), "region__path")
    if action == Action.RESPOND_PROPOSALS:
        return ProposalItem.filter(partner_id=principal.partner_id or 0)
    if action in (Action.VIEW_BOARD, Action.CLAIM_REQUESTS, Action.HOLD_REQUESTS):
        query = ServiceRequest.all()
        if action == Action.VIEW_BOARD:
            query = query.filter(status="open")
        if role == Role.ADMIN:
            return query
        if not principal.is_partner_staff:
            return _nothing(query)
        partner_id = principal.partner_id or 0
        if action == Action.HOLD_REQUESTS:
            return query.filter(claimed_by_id=partner_id)
        # Before a claim a partner sees only the requests matched to its offerings (never the rest).
        matched = Q(id__in=Subquery(Match.filter(partner_id=partner_id).values("request_id")))
        if action == Action.VIEW_BOARD:
            return query.filter(matched)
        asked = Q(id__in=Subquery(TransferRequest.filter(to_partner_id=partner_id).values("request_id")))
        return query.filter(matched | asked | Q(claimed_by_id=partner_id))
    if action in (Action.ASSIGN_REQUESTS, Action.CLOSE_REQUESTS):
        query = ServiceRequest.all()
        if role == Role.ADMIN:
            return query
        if role == Role.COORDINATOR and principal.region_path:
            return query.filter(household__region__path__startswith=principal.region_path)
        if action == Action.CLOSE_REQUESTS and principal.is_partner_staff:
            return query.filter(claimed_by_id=principal.partner_id or 0)
        return _nothing(query)
    if action == Action.DECIDE_TRANSFERS:
        query = TransferRequest.all()
        if role == Role.ADMIN:
            return query
        # The holder answers: the partner the request is asked from.
        return query.filter(from_partner_id=principal.partner_id or 0)
    if action == Action.SCHEDULE_VISITS:
        query = Visit.all()
        if role == Role.ADMIN:
            return query
        return query.filter(partner_id=principal.partner_id or 0)
    if action == Action.RESPOND_FOR_HOUSEHOLDS:
        return _in_region(
            principal, Visit.all(), "request__household__region__path", (Role.COMMUNITY_WORKER,)
        )
    if action == Action.CHECK_IN:
        # A visit for a partner that is not approved takes no new check-in; one already under way
        # can still be finished (checked out).
        return Visit.filter(
            Q(partner__status=PartnerStatus.APPROVED) | Q(status=VisitStatus.CHECKED_IN),
            id__in=Subquery(
                VolunteerBooking.filter(volunteer_id=principal.volunteer_id or 0, active=True).values(
                    "visit_id"
                )
            ),
        )
    if action == Action.OVERSEE_VISITS:
        return _in_region(principal, Visit.all(), "request__household__region__path")
    if action == Action.VIEW_TARGETS:
        # The regions whose figures the principal may open: the subtree (drill-down never leaves it).
        return _in_region(principal, Region.all(), "path")
    if action == Action.EDIT_TARGETS:
        from alliance.targets.models import Target

        return Target.all() if role == Role.ADMIN else _nothing(Target.all())
    if action == Action.EDIT_REGION_TARGETS:
        return _in_region(principal, Region.all(), "path")
    if action == Action.EDIT_PROJECTS:
        return Project.all() if role == Role.ADMIN else _nothing(Project.all())
    if action == Action.MANAGE_WEBHOOKS:
        query = WebhookEndpoint.all()
        if role == Role.ADMIN:
            return query
        return query.filter(partner_id=principal.partner_id or 0)
    if action == Action.MANAGE_API_TOKENS:
        query = PartnerToken.all()
        if role == Role.ADMIN:
            return query
        return query.filter(partner_id=principal.partner_id or 0)
    if action == Action.VIEW_NOTIFICATIONS:
        query = Notification.all()
        if role == Role.ADMIN:
            return query
        if role == Role.COORDINATOR and principal.region_path:
            # About a household or visit of the region, or to someone working in it.
            prefix = principal.region_path
            return query.filter(
                Q(household__region__path__startswith=prefix)
                | Q(visit__request__household__region__path__startswith=prefix)
                | Q(user__region__path__startswith=prefix)
            )
        return _nothing(query)
    if action in (Action.MANAGE_EVENTS, Action.REGISTER_FOR_HOUSEHOLDS, Action.VIEW_EVENT_HIRES):
        return _event_scope(principal, action)
    if action == Action.USE_INBOX:
        # One's own in-app notices; a household also reads the texts and calls sent to it.
        own = Q(user_id=principal.user_id, channel=NotificationChannel.IN_APP)
        if role == Role.HOUSEHOLD and principal.household_id:
            own |= Q(
                household_id=principal.household_id,
                channel__in=[NotificationChannel.SMS, NotificationChannel.VOICE],
            )
        return Notification.filter(own)
    if action == Action.WORK_TASKS:
        return Task.filter(owner_id=principal.user_id)
    if action in (Action.VERIFY_HOUSEHOLDS, Action.RECORD_CONSENT):
        if role == Role.HOUSEHOLD:
            return Household.filter(id=principal.household_id or 0)
        return _in_region(principal, Household.all(), "region__path", REGION_ROLES)
    if action == Action.VISIT_REGULARLY:
        return _in_region(principal, Household.all(), "region__path", (Role.COMMUNITY_WORKER,))
    if action in (Action.SET_REGION_POLICY, Action.SET_VISIT_RHYTHM, Action.SET_RESPONSE_PROMISES):
        return _in_region(principal, Region.all(), "path")
    if action in (Action.MANAGE_ACCOUNTS, Action.ISSUE_PASSWORD_RESETS):
        return _account_scope(principal)
    if action == Action.VIEW_AUDIT:
        # Entries about the region's households, partners and places (AuditEntry.region_path), and
        # what the region's own staff did.
        query = AuditEntry.all()
        if role == Role.ADMIN:
            return query
        if role == Role.COORDINATOR and principal.region_path:
            prefix = principal.region_path
            return query.filter(Q(region_path__startswith=prefix) | Q(actor__region__path__startswith=prefix))
        return _nothing(query)
    raise PermissionDenied(action)


def _account_scope(principal: Principal) -> QuerySet[Any]:
    # Admins: every account. A coordinator: the accounts bound to their subtree (a region, or a
    # partner, volunteer or household there), never an admin's and never a coordinator's of their own
    # region or above: a reset link hands over the account, so no one takes over a peer's.
    query = User.all()
    if principal.role == Role.ADMIN:
        return query
    if principal.role != Role.COORDINATOR or not principal.region_path:
        return _nothing(query)
    # Subqueries, not joins: each account is bound through one of four relations, the others null.
    regions = Subquery(Region.filter(path__startswith=principal.region_path).values("code"))
    in_subtree = (
        Q(region_id__in=regions)
        | Q(partner_id__in=Subquery(Partner.filter(region_id__in=regions).values("id")))
        | Q(volunteer_id__in=Subquery(Volunteer.filter(region_id__in=regions).values("id")))
        | Q(household_id__in=Subquery(Household.filter(region_id__in=regions).values("id")))
    )
    peers = Subquery(User.filter(role=Role.COORDINATOR, region_id=principal.region_code).values("id"))
    return query.filter(in_subtree).exclude(role=Role.ADMIN).exclude(id__in=peers)


def _event_scope(principal: Principal, action: Action) -> QuerySet[Any]:
    # Events: partner staff their own organisation's events; a community worker the households of
    # the community (to register them); a coordinator the employment outcomes of the region.
    from alliance.events.models import EmploymentOutcome, Event

    role = principal.role
    if action == Action.MANAGE_EVENTS:
        query = Event.all()
        if role == Role.ADMIN:
            return query
        return query.filter(partner_id=principal.partner_id or 0)
    if action == Action.REGISTER_FOR_HOUSEHOLDS:
        return _in_region(principal, Household.all(), "region__path", (Role.COMMUNITY_WORKER,))
    query = EmploymentOutcome.all()
    if role == Role.ADMIN:
        return query
    if role == Role.COORDINATOR and principal.region_path:
        return query.filter(household__region__path__startswith=principal.region_path)
    return _nothing(query)


async def get_visible(principal: Principal, action: Action, pk: Any) -> Any:
    """One object the principal may act on. Out of scope reads as not found: no existence leak."""
    found = await visible(principal, action).get_or_none(pk=pk)
    if found is None:
        raise NotFound(f"{action} {pk}")
    return found

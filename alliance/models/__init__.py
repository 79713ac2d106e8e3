"""Tortoise models, split by domain area. Tortoise discovers every model listed here."""

from alliance.models.accounts import LoginAttempt, User
from alliance.models.audit import AuditEntry
from alliance.models.events import (
    Attendance,
    EmploymentOutcome,
    Event,
    EventInvitation,
    EventSession,
    Registration,
)
from alliance.models.households import Flag, FlagNeedRule, Household, NeedCategory
from alliance.models.intake import (
    DuplicateDismissal,
    HouseholdMerge,
    IntakeBatch,
    IntakeBatchRegion,
    IntakeRecord,
    IntakeRejectedRow,
    IntakeSignature,
    IntakeSource,
)
from alliance.models.matching import (
    AllocationProposal,
    Match,
    OfferingMonth,
    PartnerToken,
    ProposalItem,
    TransferRequest,
)
from alliance.models.notifications import Notification, OutboxJob
from alliance.models.partners import Offering, Partner, Project, Volunteer
from alliance.models.regions import Region
from alliance.models.requests import RequestTransition, ServiceRequest
from alliance.models.targets import DeliveryParticipant, DeliveryTally, Target, TargetChange
from alliance.models.visits import CheckIn, RiskCheck, ServiceRecord, Visit, VolunteerBooking

__all__ = [
    "TransferRequest",
    "ProposalItem",
    "PartnerToken",
    "OfferingMonth",
    "Match",
    "AllocationProposal",
    "Attendance",
    "AuditEntry",
    "CheckIn",
    "DuplicateDismissal",
    "EmploymentOutcome",
    "Event",
    "EventInvitation",
    "EventSession",
    "Flag",
    "FlagNeedRule",
    "Household",
    "HouseholdMerge",
    "IntakeBatch",
    "IntakeBatchRegion",
    "IntakeRecord",
    "IntakeRejectedRow",
    "IntakeSignature",
    "IntakeSource",
    "LoginAttempt",
    "NeedCategory",
    "Notification",
    "OutboxJob",
    "Offering",
    "Partner",
    "Project",
    "Region",
    "Registration",
    "RequestTransition",
    "RiskCheck",
    "ServiceRecord",
    "ServiceRequest",
    "DeliveryParticipant",
    "DeliveryTally",
    "Target",
    "TargetChange",
    "User",
    "Visit",
    "Volunteer",
    "VolunteerBooking",
]

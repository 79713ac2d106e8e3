"""Tortoise models, split by domain area. Tortoise discovers every model listed here."""

from alliance.models.accounts import LoginAttempt, User
from alliance.models.audit import AuditEntry
from alliance.models.events import Attendance, Event, EventSession, Registration
from alliance.models.households import Flag, FlagNeedRule, Household, NeedCategory
from alliance.models.notifications import Notification
from alliance.models.partners import Offering, Partner, Project, Volunteer
from alliance.models.regions import Region
from alliance.models.requests import RequestTransition, ServiceRequest
from alliance.models.targets import Target, TargetChange
from alliance.models.visits import CheckIn, RiskCheck, ServiceRecord, Visit, VolunteerBooking

__all__ = [
    "Attendance",
    "AuditEntry",
    "CheckIn",
    "Event",
    "EventSession",
    "Flag",
    "FlagNeedRule",
    "Household",
    "LoginAttempt",
    "NeedCategory",
    "Notification",
    "Offering",
    "Partner",
    "Project",
    "Region",
    "Registration",
    "RequestTransition",
    "RiskCheck",
    "ServiceRecord",
    "ServiceRequest",
    "Target",
    "TargetChange",
    "User",
    "Visit",
    "VolunteerBooking",
    "Volunteer",
]

"""What the event modules share: their codes (statuses, venue features, outcome kinds, attendance methods),
their errors, and `EventOutcome`, what a change returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from alliance.core.errors import AllianceError
from alliance.events.models import Event, Registration


class EventStatus(StrEnum):
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class VenueFeature(StrEnum):
    STEP_FREE = "step_free"
    SIGN_INTERPRETER = "sign_interpreter"
    LARGE_PRINT = "large_print"


class OutcomeKind(StrEnum):
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRE = "hire"


class AttendanceMethod(StrEnum):
    CARD = "card"
    LIST = "list"


class EventError(AllianceError):
    """An event action that cannot happen; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RegistrationClosed(EventError):
    pass


@dataclass
class EventOutcome:
    """A change and what the edge relays after the commit (outbox job ids)."""

    event: Event
    job_ids: list[str] = field(default_factory=list)
    registration: Registration | None = None
    changed: bool = True

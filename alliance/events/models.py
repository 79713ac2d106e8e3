"""Events (job fairs, trainings): sessions, invitations, registrations, attendance and outcomes."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import EventKind, RegistrationStatus


class Event(Model):
    # A training course (several sessions) or a job fair (one day) at a venue.

    id = fields.IntField(primary_key=True)
    offering = fields.ForeignKeyField("models.Offering", related_name="events", on_delete=fields.RESTRICT)
    partner = fields.ForeignKeyField("models.Partner", related_name="events", on_delete=fields.CASCADE)
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="events", on_delete=fields.SET_NULL
    )
    kind = fields.CharEnumField(EventKind, max_length=12)
    title = fields.CharField(max_length=128)
    venue = fields.CharField(max_length=255)
    venue_lat = fields.FloatField(null=True)
    venue_lon = fields.FloatField(null=True)
    seats = fields.IntField()
    eligibility_flags = fields.JSONField(default=list)
    venue_accessibility = fields.JSONField(default=list)
    employers = fields.JSONField(default=list)
    registration_deadline = fields.DatetimeField(null=True)
    description = fields.TextField(default="")
    # "published" or "cancelled".
    status = fields.CharField(max_length=12, default="published")
    # Registered (not waitlisted) places taken: changed only by conditional updates in the same
    # transaction as the registration, so it never passes `seats`.
    seats_taken = fields.IntField(default=0)
    # Invitations go to the best matches up to seats + this margin (some will not come).
    waitlist_margin = fields.IntField(default=5)
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="events_created", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "event"
        indexes = (("partner_id", "status"),)


class EventSession(Model):
    id = fields.IntField(primary_key=True)
    event = fields.ForeignKeyField("models.Event", related_name="sessions", on_delete=fields.CASCADE)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()

    class Meta:
        table = "event_session"


class Registration(Model):
    id = fields.IntField(primary_key=True)
    event = fields.ForeignKeyField("models.Event", related_name="registrations", on_delete=fields.CASCADE)
    household = fields.ForeignKeyField(
        "models.Household", related_name="registrations", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RegistrationStatus, max_length=12)
    waitlist_position = fields.IntField(null=True)
    registered_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="registrations_made", on_delete=fields.SET_NULL
    )
    # The household's open VOCATIONAL_TRAINING or JOB_PLACEMENT request the event answers.
    request = fields.ForeignKeyField(
        "models.ServiceRequest", null=True, related_name="registrations", on_delete=fields.SET_NULL
    )
    cancelled_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharField(max_length=255, default="")
    # The household's own yes: its personal link, its login, its community worker. NULL while a
    # registration the partner made waits for it: the seat is held, the contact stays hidden, and
    # the registration lapses at `confirm_by` (alliance/events/registrations.py).
    confirmed_at = fields.DatetimeField(null=True)
    confirmed_via = fields.CharField(max_length=16, default="")
    confirm_by = fields.DatetimeField(null=True)
    # A partner's registration records how and when the household asked it to (e.g. by phone).
    asked_via = fields.CharField(max_length=16, default="")
    asked_at = fields.DatetimeField(null=True)
    asked_note = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "registration"
        indexes = (("confirmed_at", "confirm_by"),)
        unique_together = (("event", "household"),)


class Attendance(Model):
    # One attended session: one person-time for the event's project.

    id = fields.IntField(primary_key=True)
    session = fields.ForeignKeyField(
        "models.EventSession", related_name="attendances", on_delete=fields.CASCADE
    )
    registration = fields.ForeignKeyField(
        "models.Registration", related_name="attendances", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField()
    # "card" (the household's QR card scanned at the venue) or "list" (ticked on the partner's list).
    method = fields.CharField(max_length=8, default="list")
    recorded_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="attendances_recorded", on_delete=fields.SET_NULL
    )

    class Meta:
        table = "attendance"
        unique_together = (("session", "registration"),)


class EventInvitation(Model):
    # A household invited to an event because one of its open requests matches it, best first.

    id = fields.IntField(primary_key=True)
    event = fields.ForeignKeyField("models.Event", related_name="invitations", on_delete=fields.CASCADE)
    household = fields.ForeignKeyField(
        "models.Household", related_name="invitations", on_delete=fields.CASCADE
    )
    request = fields.ForeignKeyField(
        "models.ServiceRequest", null=True, related_name="invitations", on_delete=fields.SET_NULL
    )
    rank = fields.IntField()
    score = fields.FloatField(default=0)
    distance_km = fields.FloatField(null=True)
    reasons = fields.JSONField(default=list)
    notified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "event_invitation"
        unique_together = (("event", "household"),)


class EmploymentOutcome(Model):
    # What a job fair led to for a household: an interview, an offer, a hire (confirmed later by
    # the partner or the community worker).

    id = fields.IntField(primary_key=True)
    event = fields.ForeignKeyField("models.Event", related_name="outcomes", on_delete=fields.CASCADE)
    registration = fields.ForeignKeyField(
        "models.Registration", null=True, related_name="outcomes", on_delete=fields.SET_NULL
    )
    household = fields.ForeignKeyField("models.Household", related_name="outcomes", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=12)
    employer = fields.CharField(max_length=128, default="")
    job = fields.CharField(max_length=128, default="")
    note = fields.CharField(max_length=255, default="")
    recorded_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="outcomes_recorded", on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "employment_outcome"
        indexes = (("event_id", "kind"), ("household_id", "kind"))

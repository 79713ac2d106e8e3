from tortoise import fields
from tortoise.models import Model

from alliance.codes import EventKind, RegistrationStatus


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
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "event"


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
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "registration"
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

    class Meta:
        table = "attendance"
        unique_together = (("session", "registration"),)

"""Home-service visits: bookings, check-ins, service records and risk checks."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import CheckInMethod, HouseholdResponse, RiskAspect, RiskLevel, VisitStatus


class Visit(Model):
    id = fields.IntField(primary_key=True)
    request = fields.ForeignKeyField("models.ServiceRequest", related_name="visits", on_delete=fields.CASCADE)
    partner = fields.ForeignKeyField("models.Partner", related_name="visits", on_delete=fields.RESTRICT)
    window_start = fields.DatetimeField()
    window_end = fields.DatetimeField()
    status = fields.CharEnumField(VisitStatus, max_length=12, default=VisitStatus.SCHEDULED)
    is_follow_up = fields.BooleanField(default=False)
    # Bumped whenever the window moves or the visit is cancelled: reminders planned for an older
    # version find it changed and do nothing.
    schedule_version = fields.IntField(default=1)
    household_response = fields.CharEnumField(
        HouseholdResponse, max_length=12, default=HouseholdResponse.PENDING
    )
    household_response_note = fields.TextField(default="")
    household_responded_at = fields.DatetimeField(null=True)
    notes = fields.TextField(default="")
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="visits_created", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "visit"
        indexes = (("status", "window_start"), ("partner_id", "window_start"), ("request_id", "status"))


class VolunteerBooking(Model):
    # A volunteer booked on a visit; overlapping bookings are refused inside the booking transaction.

    id = fields.IntField(primary_key=True)
    volunteer = fields.ForeignKeyField("models.Volunteer", related_name="bookings", on_delete=fields.CASCADE)
    visit = fields.ForeignKeyField("models.Visit", related_name="bookings", on_delete=fields.CASCADE)
    window_start = fields.DatetimeField()
    window_end = fields.DatetimeField()
    active = fields.BooleanField(default=True)

    class Meta:
        table = "volunteer_booking"
        unique_together = (("volunteer", "visit"),)
        indexes = (("volunteer_id", "window_start"),)


class CheckIn(Model):
    # Arrival at the door. `client_key` makes retries and double taps land once.

    id = fields.IntField(primary_key=True)
    visit = fields.ForeignKeyField("models.Visit", related_name="check_ins", on_delete=fields.CASCADE)
    volunteer = fields.ForeignKeyField(
        "models.Volunteer", null=True, related_name="check_ins", on_delete=fields.SET_NULL
    )
    method = fields.CharEnumField(CheckInMethod, max_length=12)
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    distance_m = fields.FloatField(null=True)
    needs_review = fields.BooleanField(default=False)
    reason = fields.CharField(max_length=255, default="")
    recorded_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="check_ins_recorded", on_delete=fields.SET_NULL
    )
    client_key = fields.CharField(max_length=64, null=True, unique=True)
    at = fields.DatetimeField()
    checked_out_at = fields.DatetimeField(null=True)
    # A far-away GPS check-in waits for a coordinator's look.
    reviewed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="check_ins_reviewed", on_delete=fields.SET_NULL
    )
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "check_in"
        unique_together = (("visit", "volunteer"),)


class ServiceRecord(Model):
    # What was delivered at a completed visit. persons_served is the visit's person-times.

    id = fields.IntField(primary_key=True)
    visit = fields.OneToOneField("models.Visit", related_name="service_record", on_delete=fields.CASCADE)
    service = fields.TextField(default="")
    duration_minutes = fields.IntField(default=0)
    persons_served = fields.SmallIntField(default=1)
    notes = fields.TextField(default="")
    completed_at = fields.DatetimeField(db_index=True)
    confirmation_code = fields.CharField(max_length=8, null=True)
    confirmed_at = fields.DatetimeField(null=True)
    rating = fields.SmallIntField(null=True)
    comment = fields.TextField(default="")
    rated_at = fields.DatetimeField(null=True)
    # Who confirmed when the household could not (its community worker); None: the household itself.
    confirmed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="records_confirmed", on_delete=fields.SET_NULL
    )
    recorded_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="records_written", on_delete=fields.SET_NULL
    )
    # The offline page's key for the check-out: a check-out sent twice is recorded once.
    client_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "service_record"


class RiskCheck(Model):
    id = fields.IntField(primary_key=True)
    record = fields.ForeignKeyField(
        "models.ServiceRecord", related_name="risk_checks", on_delete=fields.CASCADE
    )
    household = fields.ForeignKeyField(
        "models.Household", null=True, related_name="risk_checks", on_delete=fields.CASCADE
    )
    aspect = fields.CharEnumField(RiskAspect, max_length=12)
    level = fields.CharEnumField(RiskLevel, max_length=8)
    note = fields.CharField(max_length=255, default="")
    # A risk at medium or above is open until a later visit finds it gone: the follow-up made for it
    # (a request for the matching need, or a follow-up visit) and the check that closed it.
    follow_up_request = fields.ForeignKeyField(
        "models.ServiceRequest", null=True, related_name="risk_checks", on_delete=fields.SET_NULL
    )
    follow_up_visit = fields.ForeignKeyField(
        "models.Visit", null=True, related_name="follow_up_for", on_delete=fields.SET_NULL
    )
    resolved_by = fields.ForeignKeyField(
        "models.RiskCheck", null=True, related_name="resolves", on_delete=fields.SET_NULL
    )
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "risk_check"
        unique_together = (("record", "aspect"),)
        indexes = (("household_id", "aspect", "resolved_at"),)


class VisitRhythm(Model):
    # A region's visiting interval for one kind of household (alliance/visits/regular.py RHYTHM_KINDS);
    # a region without its own row takes its nearest ancestor's, else the default in code.

    id = fields.IntField(primary_key=True)
    region = fields.ForeignKeyField("models.Region", related_name="visit_rhythms", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=16)
    interval_days = fields.SmallIntField()
    updated_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="visit_rhythms_set", on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "visit_rhythm"
        unique_together = (("region", "kind"),)


class RegularVisit(Model):
    # A community worker's regular visit to a household: check-in (card or GPS), risk check, check-out.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="regular_visits", on_delete=fields.CASCADE
    )
    worker = fields.ForeignKeyField("models.User", related_name="regular_visits", on_delete=fields.RESTRICT)
    method = fields.CharEnumField(CheckInMethod, max_length=12)
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    distance_m = fields.FloatField(null=True)
    needs_review = fields.BooleanField(default=False)
    reason = fields.CharField(max_length=255, default="")
    checked_in_at = fields.DatetimeField()
    checked_out_at = fields.DatetimeField(null=True)
    notes = fields.TextField(default="")
    persons_served = fields.SmallIntField(default=1)
    client_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "regular_visit"
        indexes = (("household_id", "checked_out_at"),)


class RegularRisk(Model):
    # One of the six checks of a regular visit. At medium or high it is a follow-up with an owner and
    # a due date, open until a later visit finds it gone (or escalated to the coordinators).

    id = fields.IntField(primary_key=True)
    visit = fields.ForeignKeyField("models.RegularVisit", related_name="risks", on_delete=fields.CASCADE)
    household = fields.ForeignKeyField(
        "models.Household", related_name="regular_risks", on_delete=fields.CASCADE
    )
    aspect = fields.CharEnumField(RiskAspect, max_length=12)
    level = fields.CharEnumField(RiskLevel, max_length=8)
    note = fields.CharField(max_length=255, default="")
    owner = fields.ForeignKeyField(
        "models.User", null=True, related_name="regular_follow_ups", on_delete=fields.SET_NULL
    )
    due_on = fields.DateField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.ForeignKeyField(
        "models.RegularVisit", null=True, related_name="risks_resolved", on_delete=fields.SET_NULL
    )
    escalated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "regular_risk"
        unique_together = (("visit", "aspect"),)
        indexes = (("household_id", "aspect", "resolved_at"),)


class RegularDue(Model):
    # The stored worklist (rebuilt by the cron in alliance/visits/regular.py): when each household of a
    # community is next due for its worker's regular visit.

    id = fields.IntField(primary_key=True)
    worker = fields.ForeignKeyField("models.User", related_name="regular_dues", on_delete=fields.CASCADE)
    household = fields.ForeignKeyField(
        "models.Household", related_name="regular_dues", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    interval_days = fields.SmallIntField()
    last_visit_at = fields.DatetimeField(null=True)
    due_on = fields.DateField()
    refreshed_at = fields.DatetimeField()

    class Meta:
        table = "regular_due"
        unique_together = (("worker", "household"),)
        indexes = (("worker_id", "due_on"),)

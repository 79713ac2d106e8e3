"""Partner organisations, their projects, offerings and volunteers, and their API tokens."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import DeliveryMode, PartnerKind, PartnerStatus
from alliance.core.crypto import EncryptedField


class Partner(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True)
    kind = fields.CharEnumField(PartnerKind, max_length=24)
    status = fields.CharEnumField(PartnerStatus, max_length=12, default=PartnerStatus.PENDING, db_index=True)
    region = fields.ForeignKeyField("models.Region", related_name="partners", on_delete=fields.RESTRICT)
    description = fields.TextField(default="")
    contact_name = fields.CharField(max_length=64, default="")
    contact_phone = fields.CharField(max_length=20, default="")
    contact_email = fields.CharField(max_length=128, default="", db_default="")
    # The unified social credit code (GB 32100, checked with python-stdnum's cn.uscc); null for the
    # organisations entered before sign-up existed.
    credit_code = fields.CharField(max_length=18, null=True, unique=True)
    # The application: where it serves and what it offers, as the applicant stated them.
    service_regions = fields.ManyToManyField(
        "models.Region", related_name="partners_serving", through="partner_service_region"
    )
    offered_needs = fields.JSONField(default=list, db_default="[]")
    submitted_at = fields.DatetimeField(null=True)
    # A reviewer's request for changes, shown to the applicant until it resubmits ("" when none).
    changes_requested = fields.TextField(default="", db_default="")
    # The first approval: the day the organisation joined the alliance (growth counts).
    approved_at = fields.DatetimeField(null=True)
    status_changed_at = fields.DatetimeField(null=True)
    # Set when the partner released more claims in the churn window than allowed
    # (alliance/matching/claims.py): no new claims until then.
    claims_paused_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "partner"


class Project(Model):
    # One of the year's assistance service projects (Wenzhou's plan has ten).

    id = fields.IntField(primary_key=True)
    year = fields.SmallIntField()
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=128)
    name_en = fields.CharField(max_length=128, default="")
    target_person_times = fields.IntField(default=0)
    # The need categories its offerings serve, space-separated codes (empty: any), and whether it
    # still takes offerings: a retired project keeps its figures and history but no offering may
    # name it any more.
    needs = fields.CharField(max_length=400, default="", db_default="")
    active = fields.BooleanField(default=True, db_default=True)
    updated_at = fields.DatetimeField(auto_now=True, null=True)

    class Meta:
        table = "project"
        unique_together = (("year", "code"),)


class ProjectPartner(Model):
    # A partner assigned to a project: when a project has any, only they may name it on an offering.

    id = fields.IntField(primary_key=True)
    project = fields.ForeignKeyField("models.Project", related_name="partner_links", on_delete=fields.CASCADE)
    partner = fields.ForeignKeyField("models.Partner", related_name="project_links", on_delete=fields.CASCADE)
    added_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "project_partner"
        unique_together = (("project", "partner"),)


class Offering(Model):
    # What a partner offers for one need, where (base point + radius and/or regions) and how much a month.

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Partner", related_name="offerings", on_delete=fields.CASCADE)
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="offerings", on_delete=fields.SET_NULL
    )
    need = fields.ForeignKeyField("models.NeedCategory", related_name="offerings", on_delete=fields.RESTRICT)
    title = fields.CharField(max_length=128)
    description = fields.TextField(default="")
    eligibility_flags = fields.JSONField(default=list)
    base_lat = fields.FloatField(null=True)
    base_lon = fields.FloatField(null=True)
    radius_km = fields.FloatField(null=True)
    regions = fields.ManyToManyField("models.Region", related_name="offerings", through="offering_region")
    monthly_capacity = fields.IntField(default=0)
    delivery_mode = fields.CharEnumField(DeliveryMode, max_length=16, default=DeliveryMode.HOME_VISIT)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "offering"
        indexes = (("need_id", "active"),)


class Volunteer(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    # Encrypted at rest like households' phones (alliance/core/crypto.py).
    phone = EncryptedField("volunteer.phone", default="")
    partners = fields.ManyToManyField(
        "models.Partner", related_name="volunteers", through="volunteer_partner"
    )
    region = fields.ForeignKeyField("models.Region", related_name="volunteers", on_delete=fields.RESTRICT)
    skills = fields.JSONField(default=list)
    home_lat = fields.FloatField(null=True)
    home_lon = fields.FloatField(null=True)
    max_travel_km = fields.FloatField(default=10.0)
    # {"mon": [["09:00", "12:00"]], ...} in Asia/Shanghai local time.
    weekly_availability = fields.JSONField(default=dict)
    # Languages spoken besides Mandarin, as codes (alliance.core.codes.Language); "SIGN" is sign language (手语).
    languages = fields.JSONField(default=list, db_default="[]")
    # pending (signed up through a partner's link, not yet approved) / approved / rejected.
    # Only an approved and active volunteer is ever suggested or booked.
    status = fields.CharField(max_length=10, default="approved", db_default="approved")
    # When the volunteer joined the alliance: set when a partner admin adds or approves them
    # (the growth count's "year they joined"); None while pending or after a rejection.
    approved_at = fields.DatetimeField(null=True)
    # False once deactivated (future bookings freed, login sessions ended); reactivation sets it back.
    active = fields.BooleanField(default=True)
    # Part of the calendar-feed link: a "new link" bumps it, so every older link stops working.
    calendar_generation = fields.SmallIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "volunteer"


class StaffInvitation(Model):
    # A partner admin's invitation of a staff member (alliance/partners/staff.py): the account is made
    # at once and the invitee sets its password through a signed single-use link (a `PasswordReset`).
    # Pending while that link is unused and unexpired; revoking spends the link and deactivates the account.

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Partner", related_name="invitations", on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("models.User", related_name="staff_invitations", on_delete=fields.CASCADE)
    role = fields.CharField(max_length=24)
    reset = fields.ForeignKeyField(
        "models.PasswordReset", null=True, related_name="staff_invitations", on_delete=fields.SET_NULL
    )
    invited_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="staff_invitations_sent", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_invitation"


class VolunteerTimeOff(Model):
    # An exception to the weekly availability: a holiday, a sick day, a range of days off (local dates, inclusive).
    id = fields.IntField(primary_key=True)
    volunteer = fields.ForeignKeyField("models.Volunteer", related_name="time_off", on_delete=fields.CASCADE)
    first_day = fields.DateField()
    last_day = fields.DateField()
    reason = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "volunteer_time_off"
        indexes = (("volunteer_id", "last_day"),)


class VolunteerSignupLink(Model):
    # A partner's sign-up link for volunteers: the signed token names this row; revoking it stops the link.
    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField(
        "models.Partner", related_name="volunteer_links", on_delete=fields.CASCADE
    )
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="volunteer_links_created", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "volunteer_signup_link"


class PartnerToken(Model):
    # A partner's API token: shown once, stored as a SHA-256 hash, revocable.

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Partner", related_name="tokens", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=64, default="")
    token_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=12)
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="tokens_created", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_token"


class WebhookEndpoint(Model):
    # A partner's HTTPS endpoint for some event types (alliance/partners/webhooks.py). The secret signs
    # each delivery (HMAC-SHA256 over "timestamp.body"); it is shown to the partner once, when made
    # or rotated.

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Partner", related_name="webhooks", on_delete=fields.CASCADE)
    url = fields.CharField(max_length=500)
    event_types = fields.JSONField(default=list)
    secret = fields.CharField(max_length=64)
    active = fields.BooleanField(default=True)
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="webhooks_created", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    # One event for one endpoint and its delivery: pending → sending (leased) → delivered, or back to
    # retrying with a later next_attempt_at, and dead after the last attempt. Kept as the delivery log.

    id = fields.BigIntField(primary_key=True)
    endpoint = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_type = fields.CharField(max_length=32)
    payload = fields.JSONField(default=dict)
    state = fields.CharField(max_length=12, default="pending")
    attempts = fields.SmallIntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    last_status = fields.SmallIntField(null=True)
    last_error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (("endpoint_id", "id"), ("state", "next_attempt_at"))

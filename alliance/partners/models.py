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
    active = fields.BooleanField(default=True)
    # Part of the calendar-feed link: a "new link" bumps it, so every older link stops working.
    calendar_generation = fields.SmallIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "volunteer"


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

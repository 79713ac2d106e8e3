"""Models every area shares: regions, accounts and the audit trail."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import RegionLevel, Role


class User(Model):
    # A person who logs in. Role plus one binding (region, partner, volunteer or household) is the scope.

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=64)
    role = fields.CharEnumField(Role, max_length=24)
    region = fields.ForeignKeyField(
        "models.Region", null=True, related_name="users", on_delete=fields.RESTRICT
    )
    partner = fields.ForeignKeyField(
        "models.Partner", null=True, related_name="users", on_delete=fields.CASCADE
    )
    volunteer = fields.OneToOneField(
        "models.Volunteer", null=True, related_name="user", on_delete=fields.CASCADE
    )
    household = fields.OneToOneField(
        "models.Household", null=True, related_name="user", on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=8, null=True)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_user"


class LoginAttempt(Model):
    # Every login attempt, so the rate limit is shared by all web processes.

    id = fields.BigIntField(primary_key=True)
    username = fields.CharField(max_length=64)
    address = fields.CharField(max_length=64)
    succeeded = fields.BooleanField()
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "login_attempt"
        indexes = (("username", "at"), ("address", "at"))


class AuditEntry(Model):
    # Append-only: who did or saw what (viewing a household's contact details is an entry).

    id = fields.BigIntField(primary_key=True)
    actor = fields.ForeignKeyField(
        "models.User", null=True, related_name="audit_entries", on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64)
    details = fields.JSONField(default=dict)
    address = fields.CharField(max_length=64, default="")
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_entry"
        indexes = (("object_type", "object_id"),)


class Region(Model):
    # An administrative division. `path` ("/330300/330302/") makes a subtree one prefix query.

    code = fields.CharField(max_length=12, primary_key=True)
    name = fields.CharField(max_length=64)
    name_en = fields.CharField(max_length=64, default="")
    level = fields.CharEnumField(RegionLevel, max_length=16)
    parent = fields.ForeignKeyField(
        "models.Region", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    path = fields.CharField(max_length=128, db_index=True)
    depth = fields.SmallIntField()
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    # Per-region policy; None inherits the nearest ancestor's value, then the built-in default.
    escalate_unclaimed_after_days = fields.SmallIntField(null=True)
    schedule_claim_within_days = fields.SmallIntField(null=True)

    class Meta:
        table = "region"

    def __str__(self) -> str:
        return self.name

from tortoise import fields
from tortoise.models import Model

from alliance.codes import Role


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

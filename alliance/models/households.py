from tortoise import fields
from tortoise.models import Model

from alliance.codes import ContactPreference, FlagCode, LocationPrecision, NeedCode


class Household(Model):
    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True)
    head_name = fields.CharField(max_length=64, db_index=True)
    # Stored for matching and duplicates; pages show it masked (alliance.privacy.mask_id_number).
    id_number = fields.CharField(max_length=18, null=True, db_index=True)
    phone = fields.CharField(max_length=20, null=True)
    address = fields.CharField(max_length=255, default="")
    region = fields.ForeignKeyField("models.Region", related_name="households", on_delete=fields.RESTRICT)
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    location_precision = fields.CharEnumField(
        LocationPrecision, max_length=8, default=LocationPrecision.REGION
    )
    member_count = fields.SmallIntField(default=1)
    accessibility = fields.JSONField(default=list)
    contact_preference = fields.CharEnumField(ContactPreference, max_length=20, default=ContactPreference.SMS)
    consent = fields.BooleanField(default=False)
    consent_recorded_at = fields.DatetimeField(null=True)
    # A plain user id, not a foreign key: User already points at Household, and a cycle of foreign
    # keys breaks tortoise's migration generator. The audit log keeps the full story anyway.
    consent_recorded_by_id = fields.IntField(null=True)
    verified = fields.BooleanField(default=False)
    # The visit card's serial: the QR token carries it, so re-issuing a card revokes the old one.
    card_serial = fields.SmallIntField(default=1)
    possible_duplicate_of = fields.ForeignKeyField(
        "models.Household", null=True, related_name="possible_duplicates", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "household"
        indexes = (("region_id", "id"),)


class Flag(Model):
    # A reason code the assistance system raised. Never deleted: a flag no longer sent is deactivated.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField("models.Household", related_name="flags", on_delete=fields.CASCADE)
    code = fields.CharEnumField(FlagCode, max_length=32)
    source = fields.CharField(max_length=64, default="")
    detected_at = fields.DatetimeField()
    severity = fields.SmallIntField(default=2)
    active = fields.BooleanField(default=True)
    deactivated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "flag"
        unique_together = (("household", "code"),)
        indexes = (("code", "active"),)


class NeedCategory(Model):
    code = fields.CharEnumField(NeedCode, max_length=32, primary_key=True)
    name_zh = fields.CharField(max_length=64)
    name_en = fields.CharField(max_length=64)

    class Meta:
        table = "need_category"


class FlagNeedRule(Model):
    # One row per (flag, need) pair; a household gets the union of its active flags' needs.

    id = fields.IntField(primary_key=True)
    flag = fields.CharEnumField(FlagCode, max_length=32)
    need = fields.ForeignKeyField("models.NeedCategory", related_name="rules", on_delete=fields.CASCADE)

    class Meta:
        table = "flag_need_rule"
        unique_together = (("flag", "need"),)

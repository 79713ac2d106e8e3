from tortoise import fields
from tortoise.models import Model

from alliance.codes import RegionLevel


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

from tortoise import fields
from tortoise.models import Model

from alliance.codes import TargetMetric


class Target(Model):
    # A yearly target. `scope_key` ("alliance", "project:7", "region:330302") keeps one row per scope,
    # which a unique constraint over nullable project/region columns could not.

    id = fields.IntField(primary_key=True)
    year = fields.SmallIntField()
    metric = fields.CharEnumField(TargetMetric, max_length=16)
    scope_key = fields.CharField(max_length=32, default="alliance")
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="targets", on_delete=fields.CASCADE
    )
    region = fields.ForeignKeyField(
        "models.Region", null=True, related_name="targets", on_delete=fields.CASCADE
    )
    value = fields.IntField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "target"
        unique_together = (("year", "metric", "scope_key"),)


class TargetChange(Model):
    id = fields.IntField(primary_key=True)
    target = fields.ForeignKeyField("models.Target", related_name="changes", on_delete=fields.CASCADE)
    old_value = fields.IntField(null=True)
    new_value = fields.IntField()
    changed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="target_changes", on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "target_change"

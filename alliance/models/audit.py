from tortoise import fields
from tortoise.models import Model


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

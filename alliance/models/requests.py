from tortoise import fields
from tortoise.models import Model

from alliance.codes import CloseReason, RequestStatus


class ServiceRequest(Model):
    # One need of one household. `active_key` is "household:need" while the request is active and
    # NULL afterwards: a unique column that forbids a second active request for the same need on any database.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField("models.Household", related_name="requests", on_delete=fields.CASCADE)
    need = fields.ForeignKeyField("models.NeedCategory", related_name="requests", on_delete=fields.RESTRICT)
    status = fields.CharEnumField(RequestStatus, max_length=12, default=RequestStatus.OPEN)
    active_key = fields.CharField(max_length=64, null=True, unique=True)
    priority = fields.SmallIntField(default=0)
    escalated = fields.BooleanField(default=False)
    escalated_at = fields.DatetimeField(null=True)
    claimed_by = fields.ForeignKeyField(
        "models.Partner", null=True, related_name="claims", on_delete=fields.RESTRICT
    )
    offering = fields.ForeignKeyField(
        "models.Offering", null=True, related_name="requests", on_delete=fields.SET_NULL
    )
    claimed_at = fields.DatetimeField(null=True)
    # When matching last ran for this request (None: never); with no Match rows it is a gap.
    matched_at = fields.DatetimeField(null=True)
    # When the holder was warned that the claim is not yet scheduled.
    claim_warned_at = fields.DatetimeField(null=True)
    close_reason = fields.CharEnumField(CloseReason, max_length=16, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service_request"
        indexes = (("status", "need_id"), ("claimed_by_id", "status"), ("household_id", "status"))


class RequestTransition(Model):
    # Append-only history of a request: who moved it from what to what, and why.

    id = fields.BigIntField(primary_key=True)
    request = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="transitions", on_delete=fields.CASCADE
    )
    from_status = fields.CharEnumField(RequestStatus, max_length=12, null=True)
    to_status = fields.CharEnumField(RequestStatus, max_length=12)
    actor = fields.ForeignKeyField(
        "models.User", null=True, related_name="transitions", on_delete=fields.SET_NULL
    )
    partner = fields.ForeignKeyField(
        "models.Partner", null=True, related_name="transitions", on_delete=fields.SET_NULL
    )
    reason = fields.CharField(max_length=255, default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "request_transition"
        indexes = (("request_id", "at"),)

"""Service requests and their history, matches, monthly capacity, transfers and allocation proposals."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import CloseReason, ProposalState, ProposalStatus, RequestStatus, TransferStatus


class TextJSONField(fields.JSONField):
    """JSON kept as plain text (PostgreSQL `text`, neither `jsonb` nor `json`): a full re-match writes
    twenty million match rows, and the server parsing each one's reasons (into jsonb, then even only
    to check them as json) was a large part of its COPY time. The text is written by matching
    itself (area_candidates.py, candidates.py), nothing queries inside it, and pages decode it in
    Python either way."""

    class _db_postgres:
        SQL_TYPE = "TEXT"


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
        # (partner_id, at): a partner's recent releases, counted by the claim-churn rule.
        indexes = (("request_id", "at"), ("partner_id", "at"))


class Match(Model):
    # A stored candidate offering for an open request, with its score and reasons; pages read these,
    # they never recompute matching. `reasons` is structured ({"code": ..., params}) and rendered
    # through gettext at display time, so both languages come from one row.
    #
    # Derived data, rewritten whole by the nightly re-match (a million rows in a province): no
    # foreign-key constraints, whose per-row checks would cost more than the rest of the write. Every
    # reader joins the request (and the offering), so a row whose request is gone is never shown, and
    # the next re-match drops it. `partner_best` marks the partner's best offering for the request:
    # the claim board lists one row per request from the index on (partner, partner_best, score).

    id = fields.BigIntField(primary_key=True)
    request = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="matches", on_delete=fields.CASCADE, db_constraint=False
    )
    offering = fields.ForeignKeyField(
        "models.Offering", related_name="matches", on_delete=fields.CASCADE, db_constraint=False
    )
    partner = fields.ForeignKeyField(
        "models.Partner", related_name="matches", on_delete=fields.CASCADE, db_constraint=False
    )
    score = fields.FloatField()
    distance_km = fields.FloatField(null=True)
    reasons = TextJSONField(default=list)
    partner_best = fields.BooleanField(default=True, db_default=True)
    computed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "request_match"
        unique_together = (("request", "offering"),)
        # No index on offering_id alone: an offering's matches are found through its partner's
        # (partner_id, offering_id), and a full re-match of a province builds one index fewer over
        # twenty million rows (about 6 s; docs/scale.md).
        indexes = (("partner_id", "partner_best", "score", "request_id"),)


class BoardChange(Model):
    # Something changed on a partner's claim board (partner_id NULL: on every board): a request of it
    # opened or left the open pool, or its matches were replaced. Written in the transaction of the
    # change; each web process keeps a partner's board pages until a row for that partner (or for
    # every board) appears (alliance/matching/board_changes.py). Pruned after an hour.

    id = fields.BigIntField(primary_key=True)
    partner_id = fields.IntField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "board_change"
        indexes = (("partner_id", "id"), ("at",))


class OfferingMonth(Model):
    # Places used of an offering's monthly capacity. Claims take a place with a conditional update
    # (claimed < capacity) in the claim's transaction, so a full offering cannot be over-claimed.

    id = fields.IntField(primary_key=True)
    offering = fields.ForeignKeyField("models.Offering", related_name="months", on_delete=fields.CASCADE)
    month = fields.CharField(max_length=7)  # "2026-11", Asia/Shanghai
    claimed = fields.IntField(default=0)

    class Meta:
        table = "offering_month"
        unique_together = (("offering", "month"),)


class TransferRequest(Model):
    # A partner asks for a request another partner holds; approved, denied, or approved automatically
    # when the holder does not answer in time.

    id = fields.IntField(primary_key=True)
    request = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="transfers", on_delete=fields.CASCADE
    )
    from_partner = fields.ForeignKeyField(
        "models.Partner", related_name="transfers_out", on_delete=fields.CASCADE
    )
    to_partner = fields.ForeignKeyField(
        "models.Partner", related_name="transfers_in", on_delete=fields.CASCADE
    )
    to_offering = fields.ForeignKeyField(
        "models.Offering", null=True, related_name="transfers_in", on_delete=fields.SET_NULL
    )
    requested_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="transfers_asked", on_delete=fields.SET_NULL
    )
    reason = fields.CharField(max_length=255)
    status = fields.CharEnumField(TransferStatus, max_length=16, default=TransferStatus.PENDING)
    decided_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="transfers_decided", on_delete=fields.SET_NULL
    )
    decision_note = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    due_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "transfer_request"
        indexes = (("status", "due_at"),)


class AllocationProposal(Model):
    # A coordinator's global proposal for their region: open requests assigned to offerings within
    # capacity by a min-cost flow; each partner accepts or declines its items.

    id = fields.IntField(primary_key=True)
    region = fields.ForeignKeyField("models.Region", related_name="proposals", on_delete=fields.CASCADE)
    created_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="proposals", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    requests_served = fields.IntField(default=0)
    total_distance_km = fields.FloatField(default=0)
    greedy_requests_served = fields.IntField(default=0)
    greedy_total_distance_km = fields.FloatField(default=0)
    # Computed by a worker (seconds of CPU for a city): the page polls state and progress.
    state = fields.CharEnumField(ProposalState, max_length=10, default=ProposalState.READY)
    progress = fields.SmallIntField(default=100)
    stage = fields.CharField(max_length=16, default="")
    requests_considered = fields.IntField(default=0)
    error = fields.CharField(max_length=255, default="")
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "allocation_proposal"


class ProposalItem(Model):
    id = fields.IntField(primary_key=True)
    proposal = fields.ForeignKeyField(
        "models.AllocationProposal", related_name="items", on_delete=fields.CASCADE
    )
    request = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="proposal_items", on_delete=fields.CASCADE
    )
    offering = fields.ForeignKeyField(
        "models.Offering", related_name="proposal_items", on_delete=fields.CASCADE
    )
    partner = fields.ForeignKeyField(
        "models.Partner", related_name="proposal_items", on_delete=fields.CASCADE
    )
    distance_km = fields.FloatField(null=True)
    status = fields.CharEnumField(ProposalStatus, max_length=12, default=ProposalStatus.PROPOSED)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "proposal_item"
        indexes = (("partner_id", "status"),)

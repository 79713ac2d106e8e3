"""Service requests and their history, matches, monthly capacity, transfers and allocation proposals."""

import json
from collections.abc import Iterable
from typing import Any

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import CloseReason, ProposalState, ProposalStatus, RequestStatus, TransferStatus
from alliance.core.privacy import distance_band


class TextJSONField(fields.JSONField):
    """JSON kept as plain text (PostgreSQL `text`, neither `jsonb` nor `json`): a full re-match writes
    twenty million match rows, and the server parsing each one's reasons (into jsonb, then even only
    to check them as json) was a large part of its COPY time. The text is written by matching
    itself (area_candidates.py, candidates.py), nothing queries inside it, and pages decode it in
    Python either way (`Match.reasons` in the short form of StoredReasons, through the field's
    encoder and decoder)."""

    class _db_postgres:
        SQL_TYPE = "TEXT"


class StoredReasons:
    """A match's reasons as stored: a few short pieces, read back as the structured reasons pages render.

    A province keeps twenty million matches, rewritten whole every night, and the reasons were most of
    each row: as JSON (`[{"code": "distance", "band": "5-10"}, {"code": "capacity", "left": 43,
    "capacity": 43}]`) 96 characters of a 169-byte row. Stored in this form they are 12 (`d5-10;c43/43`),
    and the nightly COPY, the table and its WAL shrink by about half (docs/scale.md). Pieces, joined by ";",
    each a letter and its value:

    - `d<band>`: the distance band (`alliance.core.privacy.BANDS`), never kilometres;
    - `r<code>`: the region the offering serves that holds the household (its name is looked up when a
      page shows it, in the reader's language);
    - `c<left>/<capacity>`: places left this month of the offering's capacity, when matched;
    - `e<FLAG>,<FLAG>`: the household's flags the offering accepts.

    `decode` gives the structured form ({"code": ..., params}, as `selectors.reason_texts` reads it) from
    either this form or the JSON rows written before it; `encode` gives this form from the structured one
    (the model field writes with it)."""

    SEPARATOR = ";"

    @staticmethod
    def distance_piece(band: str) -> str:
        return "d" + band

    @staticmethod
    def region_piece(code: str) -> str:
        return "r" + code

    @staticmethod
    def capacity_piece(left: int, capacity: int) -> str:
        return f"c{left}/{capacity}"

    @staticmethod
    def eligible_piece(flags: Iterable[str]) -> str:
        return "e" + ",".join(sorted(flags))

    @staticmethod
    def join(pieces: Iterable[str]) -> str:
        return StoredReasons.SEPARATOR.join(pieces)

    @staticmethod
    def decode(text: str | bytes | None) -> list[dict[str, Any]]:
        """The structured reasons of a stored text (this form, or JSON as written before it)."""
        if text is None:
            return []
        if isinstance(text, bytes):
            text = text.decode()
        if text.startswith("["):
            return json.loads(text)
        reasons: list[dict[str, Any]] = []
        for piece in text.split(StoredReasons.SEPARATOR) if text else ():
            kind, value = piece[:1], piece[1:]
            if kind == "d":
                reasons.append({"code": "distance", "band": value})
            elif kind == "r":
                reasons.append({"code": "region", "region": value})
            elif kind == "c":
                left, _slash, capacity = value.partition("/")
                reasons.append({"code": "capacity", "left": int(left), "capacity": int(capacity)})
            elif kind == "e":
                reasons.append({"code": "eligible", "flags": value.split(",") if value else []})
            else:
                raise ValueError(f"unknown match reason {piece!r} in {text!r}")
        return reasons

    @staticmethod
    def encode(reasons: Any) -> str:
        """This form of structured reasons (a list of {"code": ...}); a text is checked and kept."""
        if isinstance(reasons, (str, bytes)):
            StoredReasons.decode(reasons)
            return reasons.decode() if isinstance(reasons, bytes) else reasons
        pieces = []
        for reason in reasons or ():
            code = reason.get("code")
            if code == "distance":
                # (rows from before bands carry "km": stored as its band)
                pieces.append(
                    StoredReasons.distance_piece(reason.get("band") or distance_band(float(reason["km"])))
                )
            elif code == "region":
                pieces.append(StoredReasons.region_piece(reason["region"]))
            elif code == "capacity":
                pieces.append(StoredReasons.capacity_piece(reason["left"], reason["capacity"]))
            elif code == "eligible":
                pieces.append(StoredReasons.eligible_piece(reason["flags"]))
            else:
                raise ValueError(f"a match reason this form cannot hold: {reason!r}")
        return StoredReasons.join(pieces)


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
    # through gettext at display time, so both languages come from one row; it is stored in the
    # short form of StoredReasons ("d5-10;c43/43"), which the field reads and writes.
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
    reasons = TextJSONField(default=list, encoder=StoredReasons.encode, decoder=StoredReasons.decode)
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

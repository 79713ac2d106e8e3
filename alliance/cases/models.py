"""Casework: how a household found offline was referred, needs assessments, case notes, changes a
household reports, and the replies households send to visit notices by SMS or voice."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import (
    AssessmentOutcome,
    CaseNoteKind,
    ChangeKind,
    EligibilityChannel,
    EligibilityResult,
    InboundOutcome,
    NeedCode,
    ReferralSource,
)


class Referral(Model):
    # How a household registered by staff came to us (hotline 12345, walk-in, door knock, another
    # agency) and who referred it. One per household registered offline.

    id = fields.IntField(primary_key=True)
    household = fields.OneToOneField("models.Household", related_name="referral", on_delete=fields.CASCADE)
    source = fields.CharEnumField(ReferralSource, max_length=16)
    referrer_name = fields.CharField(max_length=64, default="")
    referrer_agency = fields.CharField(max_length=128, default="")
    registered_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="referrals", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "referral"


class NeedsAssessment(Model):
    # One structured assessment of one need: what, how severe, since when, who assessed; what it did
    # to the household's request for that need (opened one, closed one, or left it as it was).

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="assessments", on_delete=fields.CASCADE
    )
    need = fields.CharEnumField(NeedCode, max_length=32)
    description = fields.TextField()
    severity = fields.SmallIntField()
    since = fields.DateField(null=True)
    assessed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="assessments", on_delete=fields.SET_NULL
    )
    outcome = fields.CharEnumField(AssessmentOutcome, max_length=12)
    request = fields.ForeignKeyField(
        "models.ServiceRequest", null=True, related_name="assessments", on_delete=fields.SET_NULL
    )
    close_note = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "needs_assessment"
        indexes = (("household_id", "created_at"),)


class CaseNote(Model):
    # A note, a call or a visit written by the household's worker or coordinator.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="case_notes", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(CaseNoteKind, max_length=8)
    text = fields.TextField()
    author = fields.ForeignKeyField(
        "models.User", null=True, related_name="case_notes", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "case_note"
        indexes = (("household_id", "created_at"),)


class HouseholdChange(Model):
    # A change the household reported (itself or through its worker), kept as reported until a
    # worker verifies it: a new difficulty, a move, a new phone.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField("models.Household", related_name="changes", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(ChangeKind, max_length=16)
    details = fields.TextField()
    reported_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="household_changes", on_delete=fields.SET_NULL
    )
    on_behalf = fields.BooleanField(default=False)
    verified_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="verified_changes", on_delete=fields.SET_NULL
    )
    verified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "household_change"
        indexes = (("household_id", "created_at"),)


class InboundReply(Model):
    # A reply a gateway posted (SMS text or voice key), once per gateway message id, and what it did.

    id = fields.BigIntField(primary_key=True)
    gateway = fields.ForeignKeyField(
        "models.IntakeSource", related_name="inbound_replies", on_delete=fields.CASCADE
    )
    message_id = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=8)
    sender = fields.CharField(max_length=32)
    text = fields.CharField(max_length=500, default="")
    household = fields.ForeignKeyField(
        "models.Household", null=True, related_name="inbound_replies", on_delete=fields.SET_NULL
    )
    visit = fields.ForeignKeyField(
        "models.Visit", null=True, related_name="inbound_replies", on_delete=fields.SET_NULL
    )
    outcome = fields.CharEnumField(InboundOutcome, max_length=16)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "inbound_reply"
        unique_together = (("gateway", "message_id"),)


class EligibilityCheck(Model):
    # One partner's eligibility check (alliance/cases/eligibility.py): who asked, for which offering,
    # through which channel, and the answer given. Never the ID number asked about. `household` is
    # empty when nobody holds that number; else the household sees the check on its page.

    id = fields.BigIntField(primary_key=True)
    partner = fields.ForeignKeyField(
        "models.Partner", related_name="eligibility_checks", on_delete=fields.CASCADE
    )
    offering = fields.ForeignKeyField(
        "models.Offering", null=True, related_name="eligibility_checks", on_delete=fields.SET_NULL
    )
    household = fields.ForeignKeyField(
        "models.Household", null=True, related_name="eligibility_checks", on_delete=fields.CASCADE
    )
    checked_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="eligibility_checks", on_delete=fields.SET_NULL
    )
    # Set when a partner API token asked.
    token_id = fields.IntField(null=True)
    channel = fields.CharEnumField(EligibilityChannel, max_length=16)
    result = fields.CharEnumField(EligibilityResult, max_length=16)
    condition = fields.CharField(max_length=32, default="")
    valid_until = fields.DatetimeField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "eligibility_check"
        indexes = (("household_id", "at"), ("partner_id", "at"))

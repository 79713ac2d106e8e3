"""Households, their flags and needs, and how they arrive (intake sources, batches, records, merges)."""

from typing import Any

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import (
    BatchStatus,
    ConflictStatus,
    ConsentMethod,
    ConsentStatus,
    ContactPreference,
    FlagCode,
    IntakeChannel,
    LocationPrecision,
    NeedCode,
)
from alliance.core.crypto import EncryptedField, SealedJSONField, id_number_index, phone_index


class Household(Model):
    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True)
    head_name = fields.CharField(max_length=64, db_index=True)
    # Encrypted at rest (alliance/core/crypto.py); pages show them masked (alliance.core.privacy).
    # Found and de-duplicated through their blind indexes, exact match only (selectors.find_by_*).
    id_number = EncryptedField("household.id_number", source_field="id_number_enc", null=True)
    id_number_index = fields.CharField(max_length=64, null=True, db_index=True)
    phone = EncryptedField("household.phone", source_field="phone_enc", null=True)
    phone_index = fields.CharField(max_length=64, null=True, db_index=True)
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
    # Verification (alliance/households/consent.py): who, when and how a worker confirmed it.
    verified_at = fields.DatetimeField(null=True)
    verified_by_id = fields.IntField(null=True)
    verification_method = fields.CharField(max_length=16, default="", db_default="")
    # Consent as it stands now (the history: ConsentRecord). `consent` above is True once a worker
    # or the household recorded consent to share; `consent_status` is what binds matching.
    consent_status = fields.CharEnumField(
        ConsentStatus, max_length=12, default=ConsentStatus.SYSTEM, db_default=ConsentStatus.SYSTEM.value
    )
    consent_scope = fields.JSONField(default=list, null=True)
    consent_method = fields.CharField(
        max_length=20,
        default=ConsentMethod.ASSISTANCE_SYSTEM,
        db_default=ConsentMethod.ASSISTANCE_SYSTEM.value,
    )
    consent_expires_at = fields.DatetimeField(null=True)
    # Derived: consented to sharing, not expired, and verified where the region requires it. The one
    # column matching and the claim board filter on (refresh_matchable keeps it true); they reach the
    # household by its primary key, so the flag needs no index of its own.
    matchable = fields.BooleanField(default=True, db_default=True)
    # The visit card's serial: the QR token carries it, so re-issuing a card revokes the old one.
    card_serial = fields.SmallIntField(default=1)
    possible_duplicate_of = fields.ForeignKeyField(
        "models.Household", null=True, related_name="possible_duplicates", on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "household"
        # (consent_status, consent_expires_at): the hourly sweep's expiring and expired consents.
        indexes = (("region_id", "id"), ("consent_status", "consent_expires_at"))

    def _refresh_indexes(self) -> None:
        self.id_number_index = id_number_index(self.id_number)
        self.phone_index = phone_index(self.phone)

    async def save(self, *args: Any, update_fields: Any = None, **kwargs: Any) -> None:
        # The blind indexes follow the values on every save (bulk intake computes its own).
        self._refresh_indexes()
        if update_fields is not None:
            wanted = set(update_fields)
            if "id_number" in wanted:
                wanted.add("id_number_index")
            if "phone" in wanted:
                wanted.add("phone_index")
            update_fields = list(wanted)
        await super().save(*args, update_fields=update_fields, **kwargs)

    @classmethod
    def bulk_create(cls, objects: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        objects = list(objects)
        for household in objects:
            household._refresh_indexes()
        return super().bulk_create(objects, *args, **kwargs)


class ConsentRecord(Model):
    # Append-only history of a household's consent: each recording, withdrawal and expiry.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="consent_records", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ConsentStatus, max_length=12)
    scope = fields.JSONField(default=list)
    method = fields.CharField(max_length=20, default="")
    witness = fields.CharField(max_length=64, default="")
    expires_at = fields.DatetimeField(null=True)
    recorded_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="consent_records", on_delete=fields.SET_NULL
    )
    # True when the household recorded it itself (on /my-household).
    by_household = fields.BooleanField(default=False)
    at = fields.DatetimeField()

    class Meta:
        table = "consent_record"
        indexes = (("household_id", "at"),)


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


class IntakeSource(Model):
    # A system allowed to push households (the assistance system of a city or district). The secret
    # is stored as is: HMAC needs it back in clear, so the database must be guarded like a password.

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    secret = fields.CharField(max_length=128)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "intake_source"


class IntakeBatch(Model):
    # One file or one API call: who sent it, when, and what became of its rows.

    id = fields.IntField(primary_key=True)
    source = fields.ForeignKeyField(
        "models.IntakeSource", null=True, related_name="batches", on_delete=fields.SET_NULL
    )
    channel = fields.CharEnumField(IntakeChannel, max_length=8)
    filename = fields.CharField(max_length=255, default="")
    status = fields.CharEnumField(BatchStatus, max_length=12, default=BatchStatus.RUNNING)
    started_at = fields.DatetimeField(db_index=True)
    finished_at = fields.DatetimeField(null=True)
    total_rows = fields.IntField(default=0)
    created = fields.IntField(default=0)
    updated = fields.IntField(default=0)
    unchanged = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    requests_created = fields.IntField(default=0)
    error = fields.TextField(default="")

    class Meta:
        table = "intake_batch"


class IntakeBatchRegion(Model):
    # The rows of one batch that fall in one region (NULL: rows whose region code was unknown).
    # Coordinators see a batch through the slices in their subtree, and only those slices' counts.

    id = fields.IntField(primary_key=True)
    batch = fields.ForeignKeyField("models.IntakeBatch", related_name="slices", on_delete=fields.CASCADE)
    region = fields.ForeignKeyField(
        "models.Region", null=True, related_name="intake_slices", on_delete=fields.RESTRICT
    )
    created = fields.IntField(default=0)
    updated = fields.IntField(default=0)
    unchanged = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    requests_created = fields.IntField(default=0)

    class Meta:
        table = "intake_batch_region"
        indexes = (("batch_id", "region_id"),)


class IntakeRejectedRow(Model):
    # A row refused with field-level errors, kept with what was sent so it can be downloaded and fixed.

    id = fields.BigIntField(primary_key=True)
    batch = fields.ForeignKeyField(
        "models.IntakeBatch", related_name="rejected_rows", on_delete=fields.CASCADE
    )
    slice = fields.ForeignKeyField(
        "models.IntakeBatchRegion", related_name="rejected_rows", on_delete=fields.CASCADE
    )
    row = fields.IntField()
    external_id = fields.CharField(max_length=64, default="")
    errors = fields.JSONField(default=list)
    # The row as sent, its ID number and phone encrypted.
    record = SealedJSONField("intake_row", default=dict)

    class Meta:
        table = "intake_rejected_row"
        indexes = (("batch_id", "row"),)


class IntakeRecord(Model):
    # What the assistance system last sent for one household, beyond the household's own columns.

    id = fields.IntField(primary_key=True)
    household = fields.OneToOneField(
        "models.Household", related_name="intake_record", on_delete=fields.CASCADE
    )
    source = fields.ForeignKeyField(
        "models.IntakeSource", null=True, related_name="records", on_delete=fields.SET_NULL
    )
    last_batch = fields.ForeignKeyField(
        "models.IntakeBatch", null=True, related_name="records", on_delete=fields.SET_NULL
    )
    explicit_needs = fields.JSONField(default=list)
    # Set while the address still waits for the geocoder (the household has its region's centre).
    geocode_pending = fields.BooleanField(default=False)
    # The blind index (keyed hash) of "phone|address" (address without spaces, lower case): the
    # indexed key the duplicate check uses; never the phone itself.
    phone_address = fields.CharField(max_length=300, null=True, db_index=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "intake_record"
        indexes = (("geocode_pending", "last_batch_id"),)


class IntakeConflict(Model):
    # A row a source sent for a household another source sent first: a source may update only its
    # own households, so the row waits here until a coordinator accepts (applies) or rejects it.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="intake_conflicts", on_delete=fields.CASCADE
    )
    batch = fields.ForeignKeyField("models.IntakeBatch", related_name="conflicts", on_delete=fields.CASCADE)
    source = fields.ForeignKeyField(
        "models.IntakeSource", null=True, related_name="conflicts", on_delete=fields.SET_NULL
    )
    row = fields.IntField()
    external_id = fields.CharField(max_length=64)
    # The record as it was sent (field -> text), re-checked when it is accepted; ID number and
    # phone encrypted.
    record = SealedJSONField("intake_row", default=dict)
    status = fields.CharEnumField(ConflictStatus, max_length=8, default=ConflictStatus.PENDING)
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="intake_conflicts_resolved", on_delete=fields.SET_NULL
    )

    class Meta:
        table = "intake_conflict"
        indexes = (("status", "created_at"),)


class IntakeSignature(Model):
    # Signatures accepted within the replay window: the same signature twice is a replay.

    id = fields.BigIntField(primary_key=True)
    signature = fields.CharField(max_length=64, unique=True)
    source = fields.ForeignKeyField(
        "models.IntakeSource", related_name="signatures", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "intake_signature"


class HouseholdMerge(Model):
    # A household merged into another: its external id stays reserved so a re-sent row is refused
    # with the kept household named, instead of silently re-creating the duplicate.

    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True)
    kept = fields.ForeignKeyField("models.Household", related_name="merged_from", on_delete=fields.CASCADE)
    merged_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="merges", on_delete=fields.SET_NULL
    )
    snapshot = fields.JSONField(default=dict)
    at = fields.DatetimeField()

    class Meta:
        table = "household_merge"


class DuplicateDismissal(Model):
    # A coordinator said these two are different households: never mark the pair again.

    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "models.Household", related_name="dismissals", on_delete=fields.CASCADE
    )
    other = fields.ForeignKeyField(
        "models.Household", related_name="dismissed_by_others", on_delete=fields.CASCADE
    )
    dismissed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="dismissals", on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField()

    class Meta:
        table = "duplicate_dismissal"
        unique_together = (("household", "other"),)

"""What crosses the machine APIs, as pydantic models: the handlers read their query, path and body
through them and write their answers through them, and web/openapi.py builds the served documents
from them, so code and contract are the same definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from alliance.core.codes import NeedCode
from alliance.households.intake_format import FIELDS, MAX_API_RECORDS
from web.params import MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID, description="A database id: 1 to 2147483647.")]
# No field holds a NUL character (PostgreSQL text cannot store one): refused with the field named.
NO_NUL = r"^[^\x00]*$"


# --- partner API --------------------------------------------------------------------------------


class RequestsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    need: NeedCode | None = Field(None, description="Only requests for this need.")
    limit: int = Field(20, ge=1, le=100, description="Requests a page: 1 to 100.")
    cursor: str = Field(
        "", max_length=200, pattern=NO_NUL, description="The next_cursor of the previous page."
    )

    @field_validator("need", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class RequestPath(BaseModel):
    request_id: Id


class ClaimBody(BaseModel):
    """Optional: which of your offerings the claim takes a place from."""

    offering_id: Id | None = Field(None, description="Else your best matched offering with places left.")


class ReleaseBody(BaseModel):
    reason: str = Field(
        max_length=200, pattern=NO_NUL, description="Why the request goes back (required, at most 200)."
    )


class BoardItem(BaseModel):
    """A matched request as the board shows it before a claim: never a name, phone, address or ID
    number, and never where in its community the household lives."""

    model_config = ConfigDict(extra="forbid")

    request_id: int
    need: str
    status: str
    community: str
    community_code: str
    flags: list[str]
    member_count: int
    accessibility: list[str]
    priority: int
    waiting_days: int
    distance_band: str | None = Field(description='"0-1", "1-3", "3-5", "5-10", "10+" km, or null.')
    rank: int | None
    offering_id: int | None
    offering_title: str
    reasons: list[str]
    lat: float | None = Field(description="The community's centre.")
    lon: float | None = Field(description="The community's centre.")


class RequestsPage(BaseModel):
    requests: list[BoardItem]
    next_cursor: str | None = Field(description="null on the last page.")


class HouseholdContact(BaseModel):
    head_name: str
    phone: str
    address: str
    contact_preference: str
    lat: float | None
    lon: float | None


class ClaimResult(BaseModel):
    request_id: int
    status: str
    offering_id: int
    partner: str
    household: HouseholdContact


class ReleaseResult(BaseModel):
    request_id: int
    status: str


class EligibilityBody(BaseModel):
    """Whom to check, for which of your offerings."""

    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(
        min_length=1,
        max_length=32,
        pattern=NO_NUL,
        description="The resident ID number (18 characters, GB 11643) of the household's head.",
    )
    offering_id: Id = Field(description="One of your organisation's active offerings.")


class EligibilityAnswer(BaseModel):
    """All a check tells: yes or no, the condition and until when. Never a name, an address or
    another flag. An ID number nobody holds answers `no_consent`, like a household that has not
    consented to checks."""

    model_config = ConfigDict(extra="forbid")

    eligible: bool
    result: Literal["eligible", "not_eligible", "no_consent"] = Field(
        description="no_consent: no eligibility-check consent on record for this ID number."
    )
    condition: str | None = Field(
        description="When eligible: the qualifying condition, a flag code such as SUBSISTENCE_ALLOWANCE."
    )
    valid_until: datetime | None = Field(
        description="When eligible: until when the answer holds (the earliest of the condition's, the "
        "consent's and the verification's expiry)."
    )
    offering_id: int
    checked_at: datetime
    check_id: int = Field(description="This check's number in the household's and the audit's record.")


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This document."""


# --- intake API ---------------------------------------------------------------------------------


class IntakeRecord(BaseModel):
    """One household as the assistance system knows it (docs/intake.md). Each record is checked on
    its own: a bad record is refused in `rejected` with its field errors, the others are imported."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"x-fields": list(FIELDS)})

    external_id: Any = Field(None, description="The assistance system's id (required).")
    head_name: Any = Field(None, description="Head of household (required).")
    id_number: Any = Field(None, description="18-character resident ID number.")
    phone: Any = None
    address: Any = None
    region_code: Any = Field(None, description="12-digit community code (required).")
    lat: Any = None
    lon: Any = None
    member_count: Any = Field(None, description="1 to 99 (required).")
    flags: Any = Field(None, description="Flag codes, a list or ;-separated (required).")
    needs: Any = None
    accessibility: Any = None
    contact_preference: Any = None


class IntakeBatch(RootModel[Annotated[list[IntakeRecord], Field(max_length=MAX_API_RECORDS)]]):
    """At most 10,000 household records."""


class ExternalIdPath(BaseModel):
    external_id: str = Field(
        min_length=1, max_length=64, pattern=NO_NUL, description="The assistance system's id."
    )


class RecordError(BaseModel):
    field: str
    message: str


class RejectedRecord(BaseModel):
    row: int
    external_id: str
    errors: list[RecordError]


class HeldConflict(BaseModel):
    row: int
    external_id: str


class ImportResult(BaseModel):
    batch: int
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedRecord]
    conflicts: list[HeldConflict] = Field(description="Rows held for a coordinator (docs/intake.md).")
    requests_created: int


class FlagState(BaseModel):
    code: str
    active: bool
    detected_at: str | None
    deactivated_at: str | None


class RequestState(BaseModel):
    need: str
    status: str
    priority: int
    partner: str | None
    created_at: str | None
    claimed_at: str | None
    close_reason: str | None
    visits_done: int
    person_times: int


class HouseholdStatus(BaseModel):
    external_id: str
    merged_into: str | None
    region_code: str
    location_precision: str
    possible_duplicate: bool
    flags: list[FlagState]
    needs: list[str]
    requests: list[RequestState]
    visits_done: int
    person_times: int
    last_service_at: str | None


class InboundReplyBody(BaseModel):
    """A household's reply to a visit notice, as the SMS or voice gateway posts it (docs/notifications.md)."""

    model_config = ConfigDict(populate_by_name=True)

    message_id: str = Field(
        min_length=1, max_length=64, pattern=NO_NUL, description="The gateway's id of the message."
    )
    sender: str = Field(
        alias="from", min_length=1, max_length=32, pattern=NO_NUL, description="The household's phone number."
    )
    channel: str = Field(pattern=r"^(sms|voice)$", description="sms or voice.")
    text: str = Field(
        default="", max_length=500, pattern=NO_NUL, description="The SMS text, or the key pressed."
    )


class InboundReplyResult(BaseModel):
    id: int
    message_id: str
    outcome: str = Field(description="How the reply was applied, or that it went to the community worker.")
    visit: int | None
    duplicate: bool = Field(description="This message id was received before: nothing was done again.")

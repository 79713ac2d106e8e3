"""Codes shared by the database, the templates and the API (one spelling everywhere)."""

from __future__ import annotations

from enum import StrEnum


class RegionLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWN = "town"
    COMMUNITY = "community"


class FlagCode(StrEnum):
    MEDICAL_EXPENSE = "MEDICAL_EXPENSE"
    INCOME_DROP = "INCOME_DROP"
    DISABILITY = "DISABILITY"
    BREADWINNER_DECEASED = "BREADWINNER_DECEASED"
    ELDERLY_ALONE = "ELDERLY_ALONE"
    SUBSISTENCE_ALLOWANCE = "SUBSISTENCE_ALLOWANCE"
    LOW_INCOME = "LOW_INCOME"
    SPECIAL_HARDSHIP = "SPECIAL_HARDSHIP"
    UNEMPLOYED = "UNEMPLOYED"
    CHILD_AT_RISK = "CHILD_AT_RISK"
    DISASTER = "DISASTER"


class NeedCode(StrEnum):
    TELECOM_DISCOUNT = "TELECOM_DISCOUNT"
    HOME_CARE = "HOME_CARE"
    HOME_REPAIR = "HOME_REPAIR"
    HEALTH_SUPPORT = "HEALTH_SUPPORT"
    VOCATIONAL_TRAINING = "VOCATIONAL_TRAINING"
    JOB_PLACEMENT = "JOB_PLACEMENT"
    EDUCATION_SUPPORT = "EDUCATION_SUPPORT"
    PSYCHOLOGICAL_SUPPORT = "PSYCHOLOGICAL_SUPPORT"
    LEGAL_AID = "LEGAL_AID"
    BENEFITS_HELP = "BENEFITS_HELP"


class Accessibility(StrEnum):
    BLIND = "BLIND"
    LOW_VISION = "LOW_VISION"
    DEAF = "DEAF"
    WHEELCHAIR = "WHEELCHAIR"
    COGNITIVE = "COGNITIVE"
    BEDRIDDEN = "BEDRIDDEN"


class ContactPreference(StrEnum):
    SMS = "SMS"
    VOICE = "VOICE"
    COMMUNITY_WORKER = "COMMUNITY_WORKER"


class LocationPrecision(StrEnum):
    EXACT = "exact"
    ADDRESS = "address"
    REGION = "region"


class PartnerKind(StrEnum):
    TELECOM = "telecom"
    VOLUNTEER_TEAM = "volunteer_team"
    TRAINING_PROVIDER = "training_provider"
    EMPLOYMENT_SERVICE = "employment_service"
    SERVICE_PROVIDER = "service_provider"
    SOCIAL_ORGANISATION = "social_organisation"


class PartnerStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    # Closed for good: like suspended, and never reinstated.
    CLOSED = "closed"


class DeliveryMode(StrEnum):
    HOME_VISIT = "home_visit"
    VENUE_EVENT = "venue_event"


class Skill(StrEnum):
    CARE = "CARE"
    REPAIR = "REPAIR"
    MEDICAL = "MEDICAL"
    COUNSELLING = "COUNSELLING"
    LEGAL = "LEGAL"
    TEACHING = "TEACHING"
    TELECOM_SETUP = "TELECOM_SETUP"
    PAPERWORK = "PAPERWORK"
    SIGN_LANGUAGE = "SIGN_LANGUAGE"


class Language(StrEnum):
    # What a volunteer speaks; SIGN_LANGUAGE (手语) is the same code as the skill, and either makes a signer.
    MANDARIN = "MANDARIN"
    WENZHOU_DIALECT = "WENZHOU_DIALECT"
    ENGLISH = "ENGLISH"
    SIGN_LANGUAGE = "SIGN_LANGUAGE"


class VolunteerStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class RequestStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    SCHEDULED = "scheduled"
    IN_SERVICE = "in_service"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# A request in one of these states blocks a second request for the same household and need.
ACTIVE_REQUEST_STATUSES = frozenset(
    {RequestStatus.OPEN, RequestStatus.CLAIMED, RequestStatus.SCHEDULED, RequestStatus.IN_SERVICE}
)


class CloseReason(StrEnum):
    COMPLETED = "completed"
    NO_HELP_WANTED = "no_help_wanted"
    UNREACHABLE = "unreachable"
    DUPLICATE = "duplicate"
    DONE_BY_OTHERS = "done_by_others"
    OUT_OF_SCOPE = "out_of_scope"


class VisitStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class CheckInMethod(StrEnum):
    QR = "qr"
    GPS = "gps"
    ON_BEHALF = "on_behalf"


class RiskAspect(StrEnum):
    ECONOMY = "economy"
    HEALTH = "health"
    EDUCATION = "education"
    HOUSING = "housing"
    EMPLOYMENT = "employment"
    CARE = "care"


class RiskLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class EventKind(StrEnum):
    TRAINING = "training"
    JOB_FAIR = "job_fair"


class RegistrationStatus(StrEnum):
    REGISTERED = "registered"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class NotificationChannel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    IN_APP = "in_app"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    # Claimed by a worker and handed to the gateway, until `Notification.lease_until`; a lease that
    # expires (the worker died mid-call) is taken again and sent with the same idempotency key.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class HouseholdResponse(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    RESCHEDULE_REQUESTED = "reschedule"
    DECLINED = "declined"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    ENQUEUED = "enqueued"
    # Jobs that are never queued one by one: their owner takes the due ones from the outbox in
    # batches (the visit reminders, alliance/visits/notices.py) and marks them done in the same
    # transaction as the work.
    PLANNED = "planned"
    DONE = "done"


class TargetMetric(StrEnum):
    PROJECTS = "projects"
    ORGANISATIONS = "organisations"
    VOLUNTEERS = "volunteers"
    PERSON_TIMES = "person_times"


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    COMMUNITY_WORKER = "community_worker"
    PARTNER_ADMIN = "partner_admin"
    DISPATCHER = "dispatcher"
    VOLUNTEER = "volunteer"
    HOUSEHOLD = "household"


PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.DISPATCHER})
REGION_ROLES = frozenset({Role.COORDINATOR, Role.COMMUNITY_WORKER})


# Default flag -> need rules from DOMAIN.md; stored in FlagNeedRule and editable by an admin.
DEFAULT_FLAG_NEEDS: dict[FlagCode, tuple[NeedCode, ...]] = {
    FlagCode.MEDICAL_EXPENSE: (NeedCode.HEALTH_SUPPORT, NeedCode.BENEFITS_HELP),
    FlagCode.INCOME_DROP: (NeedCode.JOB_PLACEMENT, NeedCode.BENEFITS_HELP),
    FlagCode.DISABILITY: (NeedCode.HOME_CARE, NeedCode.VOCATIONAL_TRAINING, NeedCode.HOME_REPAIR),
    FlagCode.BREADWINNER_DECEASED: (
        NeedCode.BENEFITS_HELP,
        NeedCode.PSYCHOLOGICAL_SUPPORT,
        NeedCode.JOB_PLACEMENT,
    ),
    FlagCode.ELDERLY_ALONE: (NeedCode.HOME_CARE, NeedCode.HEALTH_SUPPORT, NeedCode.TELECOM_DISCOUNT),
    FlagCode.SUBSISTENCE_ALLOWANCE: (NeedCode.TELECOM_DISCOUNT,),
    FlagCode.LOW_INCOME: (NeedCode.TELECOM_DISCOUNT,),
    FlagCode.SPECIAL_HARDSHIP: (NeedCode.HOME_CARE, NeedCode.TELECOM_DISCOUNT),
    FlagCode.UNEMPLOYED: (NeedCode.JOB_PLACEMENT, NeedCode.VOCATIONAL_TRAINING),
    FlagCode.CHILD_AT_RISK: (NeedCode.EDUCATION_SUPPORT, NeedCode.PSYCHOLOGICAL_SUPPORT),
    FlagCode.DISASTER: (NeedCode.HOME_REPAIR, NeedCode.BENEFITS_HELP),
}

# Skills a volunteer needs to serve a need at home.
NEED_SKILLS: dict[NeedCode, tuple[Skill, ...]] = {
    NeedCode.TELECOM_DISCOUNT: (Skill.TELECOM_SETUP,),
    NeedCode.HOME_CARE: (Skill.CARE,),
    NeedCode.HOME_REPAIR: (Skill.REPAIR,),
    NeedCode.HEALTH_SUPPORT: (Skill.MEDICAL,),
    NeedCode.VOCATIONAL_TRAINING: (Skill.TEACHING,),
    NeedCode.JOB_PLACEMENT: (Skill.PAPERWORK,),
    NeedCode.EDUCATION_SUPPORT: (Skill.TEACHING,),
    NeedCode.PSYCHOLOGICAL_SUPPORT: (Skill.COUNSELLING,),
    NeedCode.LEGAL_AID: (Skill.LEGAL,),
    NeedCode.BENEFITS_HELP: (Skill.PAPERWORK,),
}


class IntakeChannel(StrEnum):
    FILE = "file"
    API = "api"


class ReferralSource(StrEnum):
    # How a household found offline reached us (alliance/cases/offline.py).
    HOTLINE = "hotline"
    WALK_IN = "walk_in"
    DOOR_KNOCK = "door_knock"
    AGENCY = "agency"


class AssessmentOutcome(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"
    KEPT = "kept"


class CaseNoteKind(StrEnum):
    NOTE = "note"
    CALL = "call"
    VISIT = "visit"


class ChangeKind(StrEnum):
    NEW_DIFFICULTY = "new_difficulty"
    MOVED = "moved"
    PHONE_CHANGED = "phone_changed"


class InboundOutcome(StrEnum):
    # What a gateway's reply did (alliance/cases/inbound.py).
    APPLIED = "applied"
    NOT_UNDERSTOOD = "not_understood"
    UNKNOWN_SENDER = "unknown_sender"
    NO_PENDING_VISIT = "no_visit"
    REFUSED = "refused"


class BatchStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class ConflictStatus(StrEnum):
    # An intake row for a household another source sent first: held until a coordinator decides.
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class TransferStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    AUTO_APPROVED = "auto_approved"


class ProposalState(StrEnum):
    # An allocation proposal is computed by a worker: asked for, being computed, ready, or failed.
    QUEUED = "queued"
    COMPUTING = "computing"
    READY = "ready"
    FAILED = "failed"


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"


# --- casework: tasks, verification, consent (alliance/notifications/tasks.py, households/consent.py) ---


class TaskState(StrEnum):
    OPEN = "open"
    # Open past its due time: set by the `mark_overdue_tasks` cron, and computed on display too.
    OVERDUE = "overdue"
    DONE = "done"


class TaskKind(StrEnum):
    VERIFY_HOUSEHOLD = "verify_household"
    CONSENT_EXPIRES = "consent_expires"
    CALL_HOUSEHOLD = "call_household"


class VerificationMethod(StrEnum):
    HOME_VISIT = "home_visit"
    PHONE = "phone"
    DOCUMENTS = "documents"


class ConsentStatus(StrEnum):
    # As sent by the assistance system, whose application records the household's consent in its
    # own process: sharing with the alliance's partners is allowed until a worker records otherwise.
    SYSTEM = "system"
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ConsentScope(StrEnum):
    SHARE = "share"
    CONTACT_SMS = "contact_sms"
    CONTACT_VOICE = "contact_voice"
    CONTACT_IN_PERSON = "contact_in_person"
    # Partners may check by ID number (or the household's entitlement QR) whether it qualifies for an
    # offering, and learn yes/no, the condition and until when (alliance/cases/eligibility.py).
    ELIGIBILITY_CHECK = "eligibility_check"


class EligibilityResult(StrEnum):
    # What a partner's eligibility check answered (alliance/cases/eligibility.py). An ID number
    # nobody holds answers `no_consent` too, so the answer is no oracle of who is in the system.
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    NO_CONSENT = "no_consent"


class EligibilityChannel(StrEnum):
    API = "api"
    PAGE = "staff_page"
    QR = "entitlement_qr"


class ConsentMethod(StrEnum):
    ASSISTANCE_SYSTEM = "assistance_system"
    SIGNED_PAPER = "signed_paper"
    SPOKEN_WITNESSED = "spoken_witnessed"
    IN_APP = "in_app"


class ExportState(StrEnum):
    # A large export or report is written by a worker: asked for, being written, ready to download,
    # failed, or expired (its file deleted by the retention job).
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"

"""Human labels for codes, through gettext. Templates show `label(code)`; the code itself stays in data."""

from __future__ import annotations

from alliance.core.i18n import lazy_gettext as _l

LABELS = {
    # roles
    "admin": _l("Administrator"),
    "coordinator": _l("Coordinator"),
    "community_worker": _l("Community worker"),
    "partner_admin": _l("Partner administrator"),
    "dispatcher": _l("Dispatcher"),
    "volunteer": _l("Volunteer"),
    "household": _l("Household"),
    # a partner application's steps (its history)
    # (also a volunteer sign-up turned down: VolunteerStatus.REJECTED)
    "rejected": _l("rejected"),
    "changes_requested": _l("changes asked for"),
    "resubmitted": _l("sent again for review"),
    # flags
    "MEDICAL_EXPENSE": _l("Large medical expense"),
    "INCOME_DROP": _l("Sudden income drop"),
    "DISABILITY": _l("Disability"),
    "BREADWINNER_DECEASED": _l("Breadwinner deceased"),
    "ELDERLY_ALONE": _l("Elderly living alone"),
    "SUBSISTENCE_ALLOWANCE": _l("Subsistence allowance (dibao)"),
    "LOW_INCOME": _l("Marginal low income"),
    "SPECIAL_HARDSHIP": _l("Special hardship (tekun)"),
    "UNEMPLOYED": _l("Unemployed"),
    "CHILD_AT_RISK": _l("Child at risk"),
    "DISASTER": _l("Disaster"),
    # needs
    "TELECOM_DISCOUNT": _l("Telecom discount"),
    "HOME_CARE": _l("Home care"),
    "HOME_REPAIR": _l("Home repair and accessibility"),
    "HEALTH_SUPPORT": _l("Health support"),
    "VOCATIONAL_TRAINING": _l("Vocational training"),
    "JOB_PLACEMENT": _l("Job placement"),
    "EDUCATION_SUPPORT": _l("Education support"),
    "PSYCHOLOGICAL_SUPPORT": _l("Psychological support"),
    "LEGAL_AID": _l("Legal aid"),
    "BENEFITS_HELP": _l("Help applying for benefits"),
    # accessibility
    "BLIND": _l("Blind"),
    "LOW_VISION": _l("Low vision"),
    "DEAF": _l("Deaf"),
    "WHEELCHAIR": _l("Wheelchair user"),
    "COGNITIVE": _l("Cognitive disability"),
    "BEDRIDDEN": _l("Bedridden"),
    # volunteer skills
    "CARE": _l("Personal care"),
    "REPAIR": _l("Home repairs"),
    "MEDICAL": _l("Medical care"),
    "COUNSELLING": _l("Counselling"),
    "LEGAL": _l("Legal advice"),
    "TEACHING": _l("Teaching"),
    "TELECOM_SETUP": _l("Setting up phone and broadband"),
    "PAPERWORK": _l("Paperwork and applications"),
    "SIGN_LANGUAGE": _l("Sign language"),
    # languages (SIGN_LANGUAGE above)
    "MANDARIN": _l("Mandarin"),
    "WENZHOU_DIALECT": _l("Wenzhou dialect"),
    "ENGLISH": _l("English"),
    # contact preference
    "SMS": _l("Text message"),
    "VOICE": _l("Voice call"),
    "COMMUNITY_WORKER": _l("Through the community worker"),
    # partner kinds and statuses
    "telecom": _l("Telecom operator"),
    "volunteer_team": _l("Volunteer team"),
    "training_provider": _l("Training provider"),
    "employment_service": _l("Employment service"),
    "service_provider": _l("Service provider"),
    "social_organisation": _l("Social organisation"),
    "pending": _l("Pending approval"),
    "approved": _l("Approved"),
    "suspended": _l("Suspended"),
    "closed": _l("Closed"),
    # request statuses
    "open": _l("Open"),
    # tasks, verification, consent (docs/casework.md)
    "overdue": _l("Overdue"),
    "done": _l("Done"),
    "phone": _l("Phone call"),
    "documents": _l("Documents"),
    "system": _l("As sent by the assistance system"),
    "given": _l("Given"),
    "withdrawn": _l("Withdrawn"),
    "expired": _l("Expired"),
    "share": _l("Share with partners"),
    "contact_sms": _l("Contact by text message"),
    "contact_voice": _l("Contact by voice call"),
    "contact_in_person": _l("Contact in person"),
    "assistance_system": _l("Assistance system's application"),
    "signed_paper": _l("Signed paper"),
    "spoken_witnessed": _l("Spoken, with a witness"),
    "in_app": _l("By the household in the app"),
    "claimed": _l("Claimed"),
    "scheduled": _l("Scheduled"),
    "in_service": _l("In service"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    # close reasons ("completed" above)
    "no_help_wanted": _l("No help wanted"),
    "unreachable": _l("Unreachable after several tries"),
    "duplicate": _l("Duplicate"),
    "done_by_others": _l("Done by others"),
    "out_of_scope": _l("Out of scope"),
    # transfer statuses ("pending" and "approved" above)
    "denied": _l("Denied"),
    "auto_approved": _l("Approved automatically"),
    # delivery and precision
    "home_visit": _l("Home visit"),
    "venue_event": _l("Event at a venue"),
    "exact": _l("Exact position"),
    "address": _l("From the address"),
    "region": _l("Region centre only"),
    # visits, check-in methods ("scheduled", "completed", "cancelled" above)
    "checked_in": _l("Checked in"),
    "missed": _l("Missed"),
    "qr": _l("Visit card"),
    "gps": _l("Phone position"),
    "on_behalf": _l("By a coordinator"),
    # the six risk aspects and their levels
    "economy": _l("Economy"),
    "health": _l("Health"),
    "education": _l("Education"),
    "housing": _l("Housing"),
    "employment": _l("Employment"),
    "care": _l("Care"),
    "none": _l("None"),
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
    # region levels
    "city": _l("City"),
    "district": _l("District or county"),
    "town": _l("Town or sub-district"),
    "community": _l("Community or village"),
    # events (alliance/events/codes.py): kinds, statuses, venue features, outcomes, attendance methods
    "training": _l("Training course"),
    "job_fair": _l("Job fair"),
    "published": _l("Published"),
    "registered": _l("Registered"),
    # distance bands (alliance.core.privacy.BANDS): what a partner sees before a claim
    "0-1": _l("under 1 km"),
    "1-3": _l("1–3 km"),
    "3-5": _l("3–5 km"),
    "5-10": _l("5–10 km"),
    "10+": _l("over 10 km"),
    "waitlisted": _l("On the waiting list"),
    "step_free": _l("Step-free access"),
    "sign_interpreter": _l("Sign-language interpreter"),
    "large_print": _l("Large print"),
    "interview": _l("Interview"),
    "offer": _l("Job offer"),
    "hire": _l("Hired"),
    "card": _l("Card scanned"),
    "list": _l("Ticked on the list"),
    # yearly targets and their pace (alliance/targets/targets.py, alliance/targets/progress.py)
    "projects": _l("Service projects"),
    "organisations": _l("Organisations"),
    "volunteers": _l("Volunteers"),
    "person_times": _l("Person-times"),
    "on_track": _l("On track"),
    "behind": _l("Behind"),
    "no_target": _l("No target set"),
}


def label(code: object) -> str:
    key = str(code)
    found = LABELS.get(key)
    return str(found) if found is not None else key

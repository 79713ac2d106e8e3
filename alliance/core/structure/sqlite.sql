BEGIN TRANSACTION;
CREATE TABLE "allocation_proposal" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "requests_served" INT NOT NULL,
    "total_distance_km" REAL NOT NULL,
    "greedy_requests_served" INT NOT NULL,
    "greedy_total_distance_km" REAL NOT NULL,
    "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE CASCADE
, "error" VARCHAR(255) NOT NULL, "finished_at" TIMESTAMP, "progress" SMALLINT NOT NULL, "requests_considered" INT NOT NULL, "stage" VARCHAR(16) NOT NULL, "state" VARCHAR(10) NOT NULL  /* QUEUED: queued\nCOMPUTING: computing\nREADY: ready\nFAILED: failed */);
CREATE TABLE "app_user" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "username" VARCHAR(64) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "display_name" VARCHAR(64) NOT NULL,
    "role" VARCHAR(24) NOT NULL  /* ADMIN: admin\nCOORDINATOR: coordinator\nCOMMUNITY_WORKER: community_worker\nPARTNER_ADMIN: partner_admin\nDISPATCHER: dispatcher\nVOLUNTEER: volunteer\nHOUSEHOLD: household */,
    "language" VARCHAR(8),
    "is_active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "last_login_at" TIMESTAMP,
    "partner_id" INT REFERENCES "partner" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) REFERENCES "region" ("code") ON DELETE RESTRICT,
    "volunteer_id" INT  UNIQUE REFERENCES "volunteer" ("id") ON DELETE CASCADE,
    "household_id" INT  UNIQUE REFERENCES "household" ("id") ON DELETE CASCADE
);
CREATE TABLE "attendance" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "registration_id" INT NOT NULL REFERENCES "registration" ("id") ON DELETE CASCADE,
    "session_id" INT NOT NULL REFERENCES "event_session" ("id") ON DELETE CASCADE, "method" VARCHAR(8) NOT NULL, "recorded_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_attendance_session_a94c8b" UNIQUE ("session_id", "registration_id")
);
CREATE TABLE "audit_archive" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "year" SMALLINT NOT NULL UNIQUE,
    "table_name" VARCHAR(63) NOT NULL,
    "first_id" BIGINT NOT NULL,
    "last_id" BIGINT NOT NULL,
    "entries" BIGINT NOT NULL,
    "chained" BIGINT NOT NULL,
    "last_hash" VARCHAR(64) NOT NULL,
    "detached_by" VARCHAR(64) NOT NULL,
    "detached_at" TIMESTAMP NOT NULL
);
CREATE TABLE "audit_chain_head" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "last_hash" VARCHAR(64) NOT NULL,
    "entries" BIGINT NOT NULL
);
CREATE TABLE "audit_entry" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "object_type" VARCHAR(32) NOT NULL,
    "object_id" VARCHAR(64) NOT NULL,
    "details" JSON NOT NULL,
    "address" VARCHAR(64) NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "actor_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL
, "actor_name" VARCHAR(64) NOT NULL DEFAULT '', "actor_partner_id" INT, "actor_token_id" INT, "entry_hash" VARCHAR(64) NOT NULL DEFAULT '', "household_id" INT, "prev_hash" VARCHAR(64) NOT NULL DEFAULT '', "region_path" VARCHAR(128) NOT NULL DEFAULT '');
CREATE TABLE "audit_household" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "household_id" INT NOT NULL,
    "entry_id" BIGINT NOT NULL REFERENCES "audit_entry" ("id") ON DELETE CASCADE
);
CREATE TABLE "board_change" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "partner_id" INT,
    "at" TIMESTAMP NOT NULL
);
CREATE TABLE "calendar_day" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "day" DATE NOT NULL UNIQUE,
    "kind" VARCHAR(16) NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "shift" SMALLINT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "updated_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL
);
CREATE TABLE "case_note" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(8) NOT NULL  /* NOTE: note\nCALL: call\nVISIT: visit */,
    "text" TEXT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "author_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE
);
CREATE TABLE "check_in" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "method" VARCHAR(12) NOT NULL  /* QR: qr\nGPS: gps\nON_BEHALF: on_behalf */,
    "lat" REAL,
    "lon" REAL,
    "distance_m" REAL,
    "needs_review" INT NOT NULL,
    "reason" VARCHAR(255) NOT NULL,
    "client_key" VARCHAR(64)  UNIQUE,
    "at" TIMESTAMP NOT NULL,
    "checked_out_at" TIMESTAMP,
    "recorded_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "visit_id" INT NOT NULL REFERENCES "visit" ("id") ON DELETE CASCADE,
    "volunteer_id" INT REFERENCES "volunteer" ("id") ON DELETE SET NULL, "reviewed_at" TIMESTAMP, "reviewed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_check_in_visit_i_5f8b80" UNIQUE ("visit_id", "volunteer_id")
);
CREATE TABLE "cockpit_snapshot" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "region_code" VARCHAR(12) NOT NULL,
    "year" SMALLINT NOT NULL,
    "days" SMALLINT NOT NULL,
    "computed_at" TIMESTAMP NOT NULL,
    "duration_ms" INT NOT NULL,
    "figures" JSON NOT NULL,
    CONSTRAINT "uid_cockpit_sna_region__c7bda6" UNIQUE ("region_code", "year", "days")
);
CREATE TABLE "consent_record" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "status" VARCHAR(12) NOT NULL  /* SYSTEM: system\nGIVEN: given\nWITHDRAWN: withdrawn\nEXPIRED: expired */,
    "scope" JSON NOT NULL,
    "method" VARCHAR(20) NOT NULL,
    "witness" VARCHAR(64) NOT NULL,
    "expires_at" TIMESTAMP,
    "by_household" INT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "recorded_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL
);
CREATE TABLE "delivery_participant" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(96) NOT NULL UNIQUE,
    "year" SMALLINT NOT NULL,
    "kind" VARCHAR(12) NOT NULL,
    "ref_id" INT NOT NULL,
    "region_path" VARCHAR(128) NOT NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT
);
CREATE TABLE "delivery_tally" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "key" VARCHAR(96) NOT NULL UNIQUE, "year" SMALLINT NOT NULL, "month" SMALLINT NOT NULL, "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT, "region_path" VARCHAR(128) NOT NULL, "project_id" INT REFERENCES "project" ("id") ON DELETE SET NULL, "partner_id" INT REFERENCES "partner" ("id") ON DELETE CASCADE, "person_times" INT NOT NULL, "deliveries" INT NOT NULL);
CREATE TABLE "duplicate_dismissal" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "dismissed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "other_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_duplicate_d_househo_ec742f" UNIQUE ("household_id", "other_id")
);
CREATE TABLE "eligibility_check" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_id" INT,
    "channel" VARCHAR(16) NOT NULL  /* API: api\nPAGE: staff_page\nQR: entitlement_qr */,
    "result" VARCHAR(16) NOT NULL  /* ELIGIBLE: eligible\nNOT_ELIGIBLE: not_eligible\nNO_CONSENT: no_consent */,
    "condition" VARCHAR(32) NOT NULL,
    "valid_until" TIMESTAMP,
    "at" TIMESTAMP NOT NULL,
    "checked_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "household_id" INT REFERENCES "household" ("id") ON DELETE CASCADE,
    "offering_id" INT REFERENCES "offering" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE TABLE "employment_outcome" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(12) NOT NULL,
    "employer" VARCHAR(128) NOT NULL,
    "job" VARCHAR(128) NOT NULL,
    "note" VARCHAR(255) NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "event_id" INT NOT NULL REFERENCES "event" ("id") ON DELETE CASCADE,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "recorded_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "registration_id" INT REFERENCES "registration" ("id") ON DELETE SET NULL
);
CREATE TABLE "event" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(12) NOT NULL  /* TRAINING: training\nJOB_FAIR: job_fair */,
    "title" VARCHAR(128) NOT NULL,
    "venue" VARCHAR(255) NOT NULL,
    "venue_lat" REAL,
    "venue_lon" REAL,
    "seats" INT NOT NULL,
    "eligibility_flags" JSON NOT NULL,
    "venue_accessibility" JSON NOT NULL,
    "employers" JSON NOT NULL,
    "registration_deadline" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "offering_id" INT NOT NULL REFERENCES "offering" ("id") ON DELETE RESTRICT,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "project_id" INT REFERENCES "project" ("id") ON DELETE SET NULL
, "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL, "description" TEXT NOT NULL, "seats_taken" INT NOT NULL, "status" VARCHAR(12) NOT NULL, "updated_at" TIMESTAMP NOT NULL, "waitlist_margin" INT NOT NULL);
CREATE TABLE "event_invitation" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "rank" INT NOT NULL,
    "score" REAL NOT NULL,
    "distance_km" REAL,
    "reasons" JSON NOT NULL,
    "notified_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "event_id" INT NOT NULL REFERENCES "event" ("id") ON DELETE CASCADE,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "request_id" INT REFERENCES "service_request" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_event_invit_event_i_16784d" UNIQUE ("event_id", "household_id")
);
CREATE TABLE "event_session" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "starts_at" TIMESTAMP NOT NULL,
    "ends_at" TIMESTAMP NOT NULL,
    "event_id" INT NOT NULL REFERENCES "event" ("id") ON DELETE CASCADE
);
CREATE TABLE "export_job" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "params" JSON NOT NULL,
    "scope" VARCHAR(255) NOT NULL,
    "language" VARCHAR(8) NOT NULL,
    "state" VARCHAR(10) NOT NULL  /* QUEUED: queued\nRUNNING: running\nREADY: ready\nFAILED: failed\nEXPIRED: expired */,
    "progress" SMALLINT NOT NULL,
    "row_count" INT NOT NULL,
    "file_path" VARCHAR(500) NOT NULL,
    "file_name" VARCHAR(200) NOT NULL,
    "error" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "expires_at" TIMESTAMP,
    "requested_by_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE
);
CREATE TABLE "flag" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(32) NOT NULL  /* MEDICAL_EXPENSE: MEDICAL_EXPENSE\nINCOME_DROP: INCOME_DROP\nDISABILITY: DISABILITY\nBREADWINNER_DECEASED: BREADWINNER_DECEASED\nELDERLY_ALONE: ELDERLY_ALONE\nSUBSISTENCE_ALLOWANCE: SUBSISTENCE_ALLOWANCE\nLOW_INCOME: LOW_INCOME\nSPECIAL_HARDSHIP: SPECIAL_HARDSHIP\nUNEMPLOYED: UNEMPLOYED\nCHILD_AT_RISK: CHILD_AT_RISK\nDISASTER: DISASTER */,
    "source" VARCHAR(64) NOT NULL,
    "detected_at" TIMESTAMP NOT NULL,
    "severity" SMALLINT NOT NULL,
    "active" INT NOT NULL,
    "deactivated_at" TIMESTAMP,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_flag_househo_622966" UNIQUE ("household_id", "code")
);
CREATE TABLE "flag_need_rule" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "flag" VARCHAR(32) NOT NULL  /* MEDICAL_EXPENSE: MEDICAL_EXPENSE\nINCOME_DROP: INCOME_DROP\nDISABILITY: DISABILITY\nBREADWINNER_DECEASED: BREADWINNER_DECEASED\nELDERLY_ALONE: ELDERLY_ALONE\nSUBSISTENCE_ALLOWANCE: SUBSISTENCE_ALLOWANCE\nLOW_INCOME: LOW_INCOME\nSPECIAL_HARDSHIP: SPECIAL_HARDSHIP\nUNEMPLOYED: UNEMPLOYED\nCHILD_AT_RISK: CHILD_AT_RISK\nDISASTER: DISASTER */,
    "need_id" VARCHAR(32) NOT NULL REFERENCES "need_category" ("code") ON DELETE CASCADE,
    CONSTRAINT "uid_flag_need_r_flag_4833b1" UNIQUE ("flag", "need_id")
);
CREATE TABLE "growth_entry" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(64) NOT NULL UNIQUE,
    "kind" VARCHAR(12) NOT NULL,
    "ref_id" INT NOT NULL,
    "year" SMALLINT NOT NULL,
    "region_path" VARCHAR(128) NOT NULL,
    "joined_at" TIMESTAMP NOT NULL,
    "project_id" INT REFERENCES "project" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT
);
CREATE TABLE "household" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "external_id" VARCHAR(64) NOT NULL UNIQUE,
    "head_name" VARCHAR(64) NOT NULL,
    "address" VARCHAR(255) NOT NULL,
    "lat" REAL,
    "lon" REAL,
    "location_precision" VARCHAR(8) NOT NULL  /* EXACT: exact\nADDRESS: address\nREGION: region */,
    "member_count" SMALLINT NOT NULL,
    "accessibility" JSON NOT NULL,
    "contact_preference" VARCHAR(20) NOT NULL  /* SMS: SMS\nVOICE: VOICE\nCOMMUNITY_WORKER: COMMUNITY_WORKER */,
    "consent" INT NOT NULL,
    "consent_recorded_at" TIMESTAMP,
    "consent_recorded_by_id" INT,
    "verified" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "possible_duplicate_of_id" INT REFERENCES "household" ("id") ON DELETE SET NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT
, "card_serial" SMALLINT NOT NULL, "consent_expires_at" TIMESTAMP, "consent_method" VARCHAR(20) NOT NULL DEFAULT 'assistance_system', "consent_scope" JSON, "consent_status" VARCHAR(12) NOT NULL  /* SYSTEM: system\nGIVEN: given\nWITHDRAWN: withdrawn\nEXPIRED: expired */ DEFAULT 'system', "matchable" INT NOT NULL DEFAULT 1, "verification_method" VARCHAR(16) NOT NULL DEFAULT '', "verified_at" TIMESTAMP, "verified_by_id" INT, "id_number_index" VARCHAR(64), "phone_index" VARCHAR(64), "id_number_enc" VARCHAR(160), "phone_enc" VARCHAR(160));
CREATE TABLE "household_change" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL  /* NEW_DIFFICULTY: new_difficulty\nMOVED: moved\nPHONE_CHANGED: phone_changed */,
    "details" TEXT NOT NULL,
    "on_behalf" INT NOT NULL,
    "verified_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "reported_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "verified_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL
);
CREATE TABLE "household_merge" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "external_id" VARCHAR(64) NOT NULL UNIQUE,
    "snapshot" JSON NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "kept_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "merged_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL
);
CREATE TABLE "inbound_reply" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "message_id" VARCHAR(64) NOT NULL,
    "channel" VARCHAR(8) NOT NULL,
    "sender" VARCHAR(32) NOT NULL,
    "text" VARCHAR(500) NOT NULL,
    "outcome" VARCHAR(16) NOT NULL  /* APPLIED: applied\nNOT_UNDERSTOOD: not_understood\nUNKNOWN_SENDER: unknown_sender\nNO_PENDING_VISIT: no_visit\nREFUSED: refused */,
    "received_at" TIMESTAMP NOT NULL,
    "gateway_id" INT NOT NULL REFERENCES "intake_source" ("id") ON DELETE CASCADE,
    "household_id" INT REFERENCES "household" ("id") ON DELETE SET NULL,
    "visit_id" INT REFERENCES "visit" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_inbound_rep_gateway_9b7fcc" UNIQUE ("gateway_id", "message_id")
);
CREATE TABLE "intake_batch" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "channel" VARCHAR(8) NOT NULL  /* FILE: file\nAPI: api */,
    "filename" VARCHAR(255) NOT NULL,
    "status" VARCHAR(12) NOT NULL  /* RUNNING: running\nFINISHED: finished\nFAILED: failed */,
    "started_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "total_rows" INT NOT NULL,
    "created" INT NOT NULL,
    "updated" INT NOT NULL,
    "unchanged" INT NOT NULL,
    "rejected" INT NOT NULL,
    "requests_created" INT NOT NULL,
    "error" TEXT NOT NULL,
    "source_id" INT REFERENCES "intake_source" ("id") ON DELETE SET NULL
);
CREATE TABLE "intake_batch_region" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "created" INT NOT NULL,
    "updated" INT NOT NULL,
    "unchanged" INT NOT NULL,
    "rejected" INT NOT NULL,
    "requests_created" INT NOT NULL,
    "batch_id" INT NOT NULL REFERENCES "intake_batch" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) REFERENCES "region" ("code") ON DELETE RESTRICT
);
CREATE TABLE "intake_conflict" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "row" INT NOT NULL,
    "external_id" VARCHAR(64) NOT NULL,
    "record" JSON NOT NULL,
    "status" VARCHAR(8) NOT NULL  /* PENDING: pending\nACCEPTED: accepted\nREJECTED: rejected */,
    "created_at" TIMESTAMP NOT NULL,
    "resolved_at" TIMESTAMP,
    "batch_id" INT NOT NULL REFERENCES "intake_batch" ("id") ON DELETE CASCADE,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "resolved_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "source_id" INT REFERENCES "intake_source" ("id") ON DELETE SET NULL
);
CREATE TABLE "intake_record" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "explicit_needs" JSON NOT NULL,
    "geocode_pending" INT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "last_batch_id" INT REFERENCES "intake_batch" ("id") ON DELETE SET NULL,
    "source_id" INT REFERENCES "intake_source" ("id") ON DELETE SET NULL,
    "household_id" INT NOT NULL UNIQUE REFERENCES "household" ("id") ON DELETE CASCADE
, "phone_address" VARCHAR(300));
CREATE TABLE "intake_rejected_row" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "row" INT NOT NULL,
    "external_id" VARCHAR(64) NOT NULL,
    "errors" JSON NOT NULL,
    "record" JSON NOT NULL,
    "batch_id" INT NOT NULL REFERENCES "intake_batch" ("id") ON DELETE CASCADE,
    "slice_id" INT NOT NULL REFERENCES "intake_batch_region" ("id") ON DELETE CASCADE
);
CREATE TABLE "intake_signature" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "signature" VARCHAR(64) NOT NULL UNIQUE,
    "at" TIMESTAMP NOT NULL,
    "source_id" INT NOT NULL REFERENCES "intake_source" ("id") ON DELETE CASCADE
);
CREATE TABLE "intake_source" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "secret" VARCHAR(128) NOT NULL,
    "active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "last_used_at" TIMESTAMP
);
CREATE TABLE "job_outbox" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "job_name" VARCHAR(64) NOT NULL,
    "args" JSON NOT NULL,
    "job_id" VARCHAR(160) NOT NULL UNIQUE,
    "defer_until" TIMESTAMP,
    "status" VARCHAR(8) NOT NULL  /* PENDING: pending\nENQUEUED: enqueued */,
    "attempts" SMALLINT NOT NULL,
    "error" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "enqueued_at" TIMESTAMP
, "request_id" VARCHAR(32) NOT NULL DEFAULT '');
CREATE TABLE "login_attempt" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "username" VARCHAR(64) NOT NULL,
    "address" VARCHAR(64) NOT NULL,
    "succeeded" INT NOT NULL,
    "at" TIMESTAMP NOT NULL
, "throttled" INT NOT NULL);
CREATE TABLE "login_throttle" (
    "key" VARCHAR(160) NOT NULL  PRIMARY KEY,
    "failures" INT NOT NULL,
    "window_started_at" TIMESTAMP,
    "last_failure_at" TIMESTAMP,
    "next_allowed_at" TIMESTAMP,
    "touched_at" TIMESTAMP
);
CREATE TABLE "need_category" (
    "code" VARCHAR(32) NOT NULL  PRIMARY KEY /* TELECOM_DISCOUNT: TELECOM_DISCOUNT\nHOME_CARE: HOME_CARE\nHOME_REPAIR: HOME_REPAIR\nHEALTH_SUPPORT: HEALTH_SUPPORT\nVOCATIONAL_TRAINING: VOCATIONAL_TRAINING\nJOB_PLACEMENT: JOB_PLACEMENT\nEDUCATION_SUPPORT: EDUCATION_SUPPORT\nPSYCHOLOGICAL_SUPPORT: PSYCHOLOGICAL_SUPPORT\nLEGAL_AID: LEGAL_AID\nBENEFITS_HELP: BENEFITS_HELP */,
    "name_zh" VARCHAR(64) NOT NULL,
    "name_en" VARCHAR(64) NOT NULL
);
CREATE TABLE "needs_assessment" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "need" VARCHAR(32) NOT NULL  /* TELECOM_DISCOUNT: TELECOM_DISCOUNT\nHOME_CARE: HOME_CARE\nHOME_REPAIR: HOME_REPAIR\nHEALTH_SUPPORT: HEALTH_SUPPORT\nVOCATIONAL_TRAINING: VOCATIONAL_TRAINING\nJOB_PLACEMENT: JOB_PLACEMENT\nEDUCATION_SUPPORT: EDUCATION_SUPPORT\nPSYCHOLOGICAL_SUPPORT: PSYCHOLOGICAL_SUPPORT\nLEGAL_AID: LEGAL_AID\nBENEFITS_HELP: BENEFITS_HELP */,
    "description" TEXT NOT NULL,
    "severity" SMALLINT NOT NULL,
    "since" DATE,
    "outcome" VARCHAR(12) NOT NULL  /* OPENED: opened\nCLOSED: closed\nKEPT: kept */,
    "close_note" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "assessed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "request_id" INT REFERENCES "service_request" ("id") ON DELETE SET NULL
);
CREATE TABLE "notification" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "channel" VARCHAR(8) NOT NULL  /* SMS: sms\nVOICE: voice\nIN_APP: in_app */,
    "language" VARCHAR(8) NOT NULL,
    "subject" VARCHAR(255) NOT NULL,
    "body" TEXT NOT NULL,
    "status" VARCHAR(8) NOT NULL  /* PENDING: pending\nSENT: sent\nFAILED: failed */,
    "dedupe_key" VARCHAR(128)  UNIQUE,
    "attempts" SMALLINT NOT NULL,
    "error" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "sent_at" TIMESTAMP,
    "read_at" TIMESTAMP,
    "household_id" INT REFERENCES "household" ("id") ON DELETE CASCADE,
    "user_id" INT REFERENCES "app_user" ("id") ON DELETE CASCADE
, "kind" VARCHAR(32) NOT NULL, "recipient" VARCHAR(64) NOT NULL, "visit_id" INT REFERENCES "visit" ("id") ON DELETE SET NULL, "lease_until" TIMESTAMP);
CREATE TABLE "notification_key" (
    "key" VARCHAR(128) NOT NULL  PRIMARY KEY,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE "offering" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "title" VARCHAR(128) NOT NULL,
    "description" TEXT NOT NULL,
    "eligibility_flags" JSON NOT NULL,
    "base_lat" REAL,
    "base_lon" REAL,
    "radius_km" REAL,
    "monthly_capacity" INT NOT NULL,
    "delivery_mode" VARCHAR(16) NOT NULL  /* HOME_VISIT: home_visit\nVENUE_EVENT: venue_event */,
    "active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "need_id" VARCHAR(32) NOT NULL REFERENCES "need_category" ("code") ON DELETE RESTRICT,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "project_id" INT REFERENCES "project" ("id") ON DELETE SET NULL
);
CREATE TABLE "offering_month" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "month" VARCHAR(7) NOT NULL,
    "claimed" INT NOT NULL,
    "offering_id" INT NOT NULL REFERENCES "offering" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_offering_mo_offerin_ac8277" UNIQUE ("offering_id", "month")
);
CREATE TABLE "offering_region" (
    "offering_id" INT NOT NULL REFERENCES "offering" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE CASCADE
);
CREATE TABLE "partner" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(128) NOT NULL UNIQUE,
    "kind" VARCHAR(24) NOT NULL  /* TELECOM: telecom\nVOLUNTEER_TEAM: volunteer_team\nTRAINING_PROVIDER: training_provider\nEMPLOYMENT_SERVICE: employment_service\nSERVICE_PROVIDER: service_provider\nSOCIAL_ORGANISATION: social_organisation */,
    "status" VARCHAR(12) NOT NULL  /* PENDING: pending\nAPPROVED: approved\nSUSPENDED: suspended */,
    "description" TEXT NOT NULL,
    "contact_name" VARCHAR(64) NOT NULL,
    "contact_phone" VARCHAR(20) NOT NULL,
    "status_changed_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT
, "claims_paused_until" TIMESTAMP, "approved_at" TIMESTAMP, "changes_requested" TEXT NOT NULL DEFAULT '', "contact_email" VARCHAR(128) NOT NULL DEFAULT '', "credit_code" VARCHAR(18), "offered_needs" JSON NOT NULL DEFAULT '[]', "submitted_at" TIMESTAMP);
CREATE TABLE "partner_service_region" (
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE CASCADE
);
CREATE TABLE "partner_token" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(12) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "last_used_at" TIMESTAMP,
    "revoked_at" TIMESTAMP,
    "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE TABLE "password_reset" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "secret_hash" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "used_at" TIMESTAMP,
    "revoked_at" TIMESTAMP,
    "issued_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "user_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE
);
CREATE TABLE "project" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "year" SMALLINT NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "name_en" VARCHAR(128) NOT NULL,
    "target_person_times" INT NOT NULL, "needs" VARCHAR(400) NOT NULL DEFAULT '', "active" INT NOT NULL DEFAULT 1, "updated_at" TIMESTAMP,
    CONSTRAINT "uid_project_year_c398a1" UNIQUE ("year", "code")
);
CREATE TABLE "project_partner" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "added_at" TIMESTAMP NOT NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "project_id" INT NOT NULL REFERENCES "project" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_project_par_project_97cc92" UNIQUE ("project_id", "partner_id")
);
CREATE TABLE "promise_snapshot" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "region_code" VARCHAR(12) NOT NULL,
    "year" SMALLINT NOT NULL,
    "computed_at" TIMESTAMP NOT NULL,
    "duration_ms" INT NOT NULL,
    "figures" JSON NOT NULL,
    CONSTRAINT "uid_promise_sna_region__f5bd3e" UNIQUE ("region_code", "year")
);
CREATE TABLE "proposal_item" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "distance_km" REAL,
    "status" VARCHAR(12) NOT NULL  /* PROPOSED: proposed\nACCEPTED: accepted\nDECLINED: declined */,
    "decided_at" TIMESTAMP,
    "offering_id" INT NOT NULL REFERENCES "offering" ("id") ON DELETE CASCADE,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "proposal_id" INT NOT NULL REFERENCES "allocation_proposal" ("id") ON DELETE CASCADE,
    "request_id" INT NOT NULL REFERENCES "service_request" ("id") ON DELETE CASCADE
);
CREATE TABLE "referral" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "source" VARCHAR(16) NOT NULL  /* HOTLINE: hotline\nWALK_IN: walk_in\nDOOR_KNOCK: door_knock\nAGENCY: agency */,
    "referrer_name" VARCHAR(64) NOT NULL,
    "referrer_agency" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "registered_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "household_id" INT NOT NULL UNIQUE REFERENCES "household" ("id") ON DELETE CASCADE
);
CREATE TABLE "region" (
    "code" VARCHAR(12) NOT NULL  PRIMARY KEY,
    "name" VARCHAR(64) NOT NULL,
    "name_en" VARCHAR(64) NOT NULL,
    "level" VARCHAR(16) NOT NULL  /* CITY: city\nDISTRICT: district\nTOWN: town\nCOMMUNITY: community */,
    "path" VARCHAR(128) NOT NULL,
    "depth" SMALLINT NOT NULL,
    "lat" REAL,
    "lon" REAL,
    "parent_id" VARCHAR(12) REFERENCES "region" ("code") ON DELETE RESTRICT
, "escalate_unclaimed_after_days" SMALLINT, "schedule_claim_within_days" SMALLINT, "verification_required" INT, "transfer_auto_approve_hours" SMALLINT, "checkin_radius_m" SMALLINT);
CREATE TABLE "registration" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "status" VARCHAR(12) NOT NULL  /* REGISTERED: registered\nWAITLISTED: waitlisted\nCANCELLED: cancelled */,
    "waitlist_position" INT,
    "created_at" TIMESTAMP NOT NULL,
    "event_id" INT NOT NULL REFERENCES "event" ("id") ON DELETE CASCADE,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "registered_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL, "cancel_reason" VARCHAR(255) NOT NULL, "cancelled_at" TIMESTAMP, "request_id" INT REFERENCES "service_request" ("id") ON DELETE SET NULL, "updated_at" TIMESTAMP NOT NULL, "asked_at" TIMESTAMP, "asked_note" VARCHAR(255) NOT NULL, "asked_via" VARCHAR(16) NOT NULL, "confirm_by" TIMESTAMP, "confirmed_at" TIMESTAMP, "confirmed_via" VARCHAR(16) NOT NULL,
    CONSTRAINT "uid_registratio_event_i_31983f" UNIQUE ("event_id", "household_id")
);
CREATE TABLE "regular_due" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "interval_days" SMALLINT NOT NULL,
    "last_visit_at" TIMESTAMP,
    "due_on" DATE NOT NULL,
    "refreshed_at" TIMESTAMP NOT NULL,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "worker_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_regular_due_worker__d7d523" UNIQUE ("worker_id", "household_id")
);
CREATE TABLE "regular_risk" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "aspect" VARCHAR(12) NOT NULL  /* ECONOMY: economy\nHEALTH: health\nEDUCATION: education\nHOUSING: housing\nEMPLOYMENT: employment\nCARE: care */,
    "level" VARCHAR(8) NOT NULL  /* NONE: none\nLOW: low\nMEDIUM: medium\nHIGH: high */,
    "note" VARCHAR(255) NOT NULL,
    "due_on" DATE,
    "resolved_at" TIMESTAMP,
    "escalated_at" TIMESTAMP,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "owner_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "resolved_by_id" INT REFERENCES "regular_visit" ("id") ON DELETE SET NULL,
    "visit_id" INT NOT NULL REFERENCES "regular_visit" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_regular_ris_visit_i_141f89" UNIQUE ("visit_id", "aspect")
);
CREATE TABLE "regular_visit" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "method" VARCHAR(12) NOT NULL  /* QR: qr\nGPS: gps\nON_BEHALF: on_behalf */,
    "lat" REAL,
    "lon" REAL,
    "distance_m" REAL,
    "needs_review" INT NOT NULL,
    "reason" VARCHAR(255) NOT NULL,
    "checked_in_at" TIMESTAMP NOT NULL,
    "checked_out_at" TIMESTAMP,
    "notes" TEXT NOT NULL,
    "persons_served" SMALLINT NOT NULL,
    "client_key" VARCHAR(64)  UNIQUE,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "worker_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE RESTRICT
);
CREATE TABLE "request_match" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "request_id" INT NOT NULL, "offering_id" INT NOT NULL, "partner_id" INT NOT NULL, "score" REAL NOT NULL, "distance_km" REAL, "reasons" JSON NOT NULL, "computed_at" TIMESTAMP NOT NULL, "partner_best" INT NOT NULL DEFAULT 1, CONSTRAINT "uid_request_mat_request_3fc512" UNIQUE ("request_id", "offering_id"));
CREATE TABLE "request_transition" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "from_status" VARCHAR(12)   /* OPEN: open\nCLAIMED: claimed\nSCHEDULED: scheduled\nIN_SERVICE: in_service\nCOMPLETED: completed\nCANCELLED: cancelled */,
    "to_status" VARCHAR(12) NOT NULL  /* OPEN: open\nCLAIMED: claimed\nSCHEDULED: scheduled\nIN_SERVICE: in_service\nCOMPLETED: completed\nCANCELLED: cancelled */,
    "reason" VARCHAR(255) NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "actor_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT REFERENCES "partner" ("id") ON DELETE SET NULL,
    "request_id" INT NOT NULL REFERENCES "service_request" ("id") ON DELETE CASCADE
);
CREATE TABLE "response_promise" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "need" VARCHAR(32) NOT NULL,
    "first_contact_days" SMALLINT,
    "service_days" SMALLINT,
    "updated_at" TIMESTAMP NOT NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE CASCADE,
    "updated_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_response_pr_region__0922ff" UNIQUE ("region_id", "need")
);
CREATE TABLE "risk_check" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "aspect" VARCHAR(12) NOT NULL  /* ECONOMY: economy\nHEALTH: health\nEDUCATION: education\nHOUSING: housing\nEMPLOYMENT: employment\nCARE: care */,
    "level" VARCHAR(8) NOT NULL  /* NONE: none\nLOW: low\nMEDIUM: medium\nHIGH: high */,
    "note" VARCHAR(255) NOT NULL,
    "record_id" INT NOT NULL REFERENCES "service_record" ("id") ON DELETE CASCADE, "follow_up_request_id" INT REFERENCES "service_request" ("id") ON DELETE SET NULL, "follow_up_visit_id" INT REFERENCES "visit" ("id") ON DELETE SET NULL, "household_id" INT REFERENCES "household" ("id") ON DELETE CASCADE, "resolved_at" TIMESTAMP, "resolved_by_id" INT REFERENCES "risk_check" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_risk_check_record__2136ae" UNIQUE ("record_id", "aspect")
);
CREATE TABLE "service_record" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "service" TEXT NOT NULL,
    "duration_minutes" INT NOT NULL,
    "persons_served" SMALLINT NOT NULL,
    "notes" TEXT NOT NULL,
    "completed_at" TIMESTAMP NOT NULL,
    "confirmation_code" VARCHAR(8),
    "confirmed_at" TIMESTAMP,
    "rating" SMALLINT,
    "comment" TEXT NOT NULL,
    "visit_id" INT NOT NULL UNIQUE REFERENCES "visit" ("id") ON DELETE CASCADE
, "client_key" VARCHAR(64), "confirmed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL, "rated_at" TIMESTAMP, "recorded_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL);
CREATE TABLE "service_request" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "status" VARCHAR(12) NOT NULL  /* OPEN: open\nCLAIMED: claimed\nSCHEDULED: scheduled\nIN_SERVICE: in_service\nCOMPLETED: completed\nCANCELLED: cancelled */,
    "active_key" VARCHAR(64)  UNIQUE,
    "priority" SMALLINT NOT NULL,
    "escalated" INT NOT NULL,
    "claimed_at" TIMESTAMP,
    "close_reason" VARCHAR(16)   /* COMPLETED: completed\nNO_HELP_WANTED: no_help_wanted\nUNREACHABLE: unreachable\nDUPLICATE: duplicate\nDONE_BY_OTHERS: done_by_others\nOUT_OF_SCOPE: out_of_scope */,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "claimed_by_id" INT REFERENCES "partner" ("id") ON DELETE RESTRICT,
    "household_id" INT NOT NULL REFERENCES "household" ("id") ON DELETE CASCADE,
    "need_id" VARCHAR(32) NOT NULL REFERENCES "need_category" ("code") ON DELETE RESTRICT,
    "offering_id" INT REFERENCES "offering" ("id") ON DELETE SET NULL
, "claim_warned_at" TIMESTAMP, "matched_at" TIMESTAMP, "escalated_at" TIMESTAMP);
CREATE TABLE "staff_invitation" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "role" VARCHAR(24) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "invited_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "reset_id" BIGINT REFERENCES "password_reset" ("id") ON DELETE SET NULL,
    "user_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE
);
CREATE TABLE "supervision_snapshot" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "region_code" VARCHAR(12) NOT NULL UNIQUE,
    "computed_at" TIMESTAMP NOT NULL,
    "duration_ms" INT NOT NULL,
    "figures" JSON NOT NULL
);
CREATE TABLE "target" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "year" SMALLINT NOT NULL,
    "metric" VARCHAR(16) NOT NULL  /* PROJECTS: projects\nORGANISATIONS: organisations\nVOLUNTEERS: volunteers\nPERSON_TIMES: person_times */,
    "scope_key" VARCHAR(32) NOT NULL,
    "value" INT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "project_id" INT REFERENCES "project" ("id") ON DELETE CASCADE,
    "region_id" VARCHAR(12) REFERENCES "region" ("code") ON DELETE CASCADE,
    CONSTRAINT "uid_target_year_e1dab8" UNIQUE ("year", "metric", "scope_key")
);
CREATE TABLE "target_change" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "old_value" INT,
    "new_value" INT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "changed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "target_id" INT NOT NULL REFERENCES "target" ("id") ON DELETE CASCADE
);
CREATE TABLE "task" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(24) NOT NULL  /* VERIFY_HOUSEHOLD: verify_household\nCONSENT_EXPIRES: consent_expires\nCALL_HOUSEHOLD: call_household */,
    "subject_type" VARCHAR(24) NOT NULL,
    "subject_id" VARCHAR(32) NOT NULL,
    "params" JSON NOT NULL,
    "due_at" TIMESTAMP,
    "state" VARCHAR(8) NOT NULL  /* OPEN: open\nOVERDUE: overdue\nDONE: done */,
    "open_key" VARCHAR(128)  UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "closed_at" TIMESTAMP,
    "close_note" VARCHAR(64) NOT NULL,
    "closed_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "owner_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE
);
CREATE TABLE "tortoise_migrations" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "app" VARCHAR(255) NOT NULL,
    "name" VARCHAR(255) NOT NULL,
    "applied_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_tortoise_mi_app_3803a5" UNIQUE ("app", "name")
);
INSERT INTO "tortoise_migrations" VALUES(1,'models','0001_initial','2026-12-05 17:27:44.365040+00:00');
INSERT INTO "tortoise_migrations" VALUES(2,'models','0002_intake','2026-12-05 17:27:44.592597+00:00');
INSERT INTO "tortoise_migrations" VALUES(3,'models','0003_matching','2026-12-05 17:27:45.087982+00:00');
INSERT INTO "tortoise_migrations" VALUES(4,'models','0004_intake_phone_address','2026-12-05 17:27:45.114156+00:00');
INSERT INTO "tortoise_migrations" VALUES(5,'models','0005_scheduling','2026-12-05 17:27:45.591805+00:00');
INSERT INTO "tortoise_migrations" VALUES(6,'models','0006_check_in','2026-12-05 17:27:46.375367+00:00');
INSERT INTO "tortoise_migrations" VALUES(7,'models','0007_tallies','2026-12-05 17:27:46.508015+00:00');
INSERT INTO "tortoise_migrations" VALUES(8,'models','0008_events','2026-12-05 17:27:47.589121+00:00');
INSERT INTO "tortoise_migrations" VALUES(9,'models','0009_lookup_indexes','2026-12-05 17:27:47.720644+00:00');
INSERT INTO "tortoise_migrations" VALUES(10,'models','0010_board_index','2026-12-05 17:27:48.230122+00:00');
INSERT INTO "tortoise_migrations" VALUES(11,'models','0011_phone_address_index','2026-12-05 17:27:48.246926+00:00');
INSERT INTO "tortoise_migrations" VALUES(12,'models','0012_allocation_job','2026-12-05 17:27:48.691408+00:00');
INSERT INTO "tortoise_migrations" VALUES(13,'models','0013_lifecycle','2026-12-05 17:27:48.725763+00:00');
INSERT INTO "tortoise_migrations" VALUES(14,'models','0014_privacy','2026-12-05 17:27:49.280216+00:00');
INSERT INTO "tortoise_migrations" VALUES(15,'models','0015_sessions','2026-12-05 17:27:49.519790+00:00');
INSERT INTO "tortoise_migrations" VALUES(16,'models','0016_delivery','2026-12-05 17:27:49.668737+00:00');
INSERT INTO "tortoise_migrations" VALUES(17,'models','0017_audit','2026-12-05 17:27:50.610293+00:00');
INSERT INTO "tortoise_migrations" VALUES(18,'models','0018_hardening','2026-12-05 17:27:50.850966+00:00');
INSERT INTO "tortoise_migrations" VALUES(19,'models','0019_board_changes','2026-12-05 17:27:50.933461+00:00');
INSERT INTO "tortoise_migrations" VALUES(20,'models','0020_projects','2026-12-05 17:27:51.178717+00:00');
INSERT INTO "tortoise_migrations" VALUES(21,'models','0021_webhooks','2026-12-05 17:27:51.316428+00:00');
INSERT INTO "tortoise_migrations" VALUES(22,'models','0022_onboard','2026-12-05 17:27:52.026003+00:00');
INSERT INTO "tortoise_migrations" VALUES(23,'models','0023_inbox','2026-12-05 17:27:53.017315+00:00');
INSERT INTO "tortoise_migrations" VALUES(24,'models','0024_encryption','2026-12-05 17:27:53.653743+00:00');
INSERT INTO "tortoise_migrations" VALUES(25,'models','0025_exports','2026-12-05 17:27:53.772854+00:00');
INSERT INTO "tortoise_migrations" VALUES(26,'models','0026_volunteers','2026-12-05 17:27:54.267558+00:00');
INSERT INTO "tortoise_migrations" VALUES(27,'models','0027_casework','2026-12-05 17:27:54.706552+00:00');
INSERT INTO "tortoise_migrations" VALUES(28,'models','0028_regular','2026-12-05 17:27:55.100291+00:00');
INSERT INTO "tortoise_migrations" VALUES(29,'models','0029_region_settings','2026-12-05 17:27:55.312953+00:00');
INSERT INTO "tortoise_migrations" VALUES(30,'models','0030_eligibility','2026-12-05 17:27:55.435362+00:00');
INSERT INTO "tortoise_migrations" VALUES(31,'models','0031_promises','2026-12-05 17:27:55.693683+00:00');
INSERT INTO "tortoise_migrations" VALUES(32,'models','0032_supervision','2026-12-05 17:27:55.727802+00:00');
INSERT INTO "tortoise_migrations" VALUES(33,'models','0033_calendar_days','2026-12-05 17:27:55.846453+00:00');
INSERT INTO "tortoise_migrations" VALUES(34,'models','0034_cockpit_snapshot','2026-12-05 17:27:55.943941+00:00');
INSERT INTO "tortoise_migrations" VALUES(35,'models','0036_reminder_batches','2026-12-05 17:27:56.014494+00:00');
INSERT INTO "tortoise_migrations" VALUES(36,'models','0038_audit_partitions','2026-12-05 17:27:56.152705+00:00');
INSERT INTO "tortoise_migrations" VALUES(37,'models','0040_active_request_indexes','2026-12-05 17:27:56.241826+00:00');
INSERT INTO "tortoise_migrations" VALUES(38,'models','0042_notification_partitions','2026-12-05 17:27:56.368658+00:00');
INSERT INTO "tortoise_migrations" VALUES(39,'models','0043_promise_snapshot','2026-12-05 17:27:56.404380+00:00');
INSERT INTO "tortoise_migrations" VALUES(40,'models','0044_match_reasons_as_json','2026-12-05 17:27:56.568962+00:00');
INSERT INTO "tortoise_migrations" VALUES(41,'models','0045_match_without_offering_index','2026-12-05 17:27:56.702130+00:00');
INSERT INTO "tortoise_migrations" VALUES(42,'models','0046_match_reasons_as_text','2026-12-05 17:27:56.845373+00:00');
INSERT INTO "tortoise_migrations" VALUES(43,'models','0047_match_reasons_short_form','2026-12-05 17:27:56.976071+00:00');
CREATE TABLE "transfer_request" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "reason" VARCHAR(255) NOT NULL,
    "status" VARCHAR(16) NOT NULL  /* PENDING: pending\nAPPROVED: approved\nDENIED: denied\nAUTO_APPROVED: auto_approved */,
    "decision_note" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "due_at" TIMESTAMP NOT NULL,
    "decided_at" TIMESTAMP,
    "decided_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "from_partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE,
    "request_id" INT NOT NULL REFERENCES "service_request" ("id") ON DELETE CASCADE,
    "requested_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "to_offering_id" INT REFERENCES "offering" ("id") ON DELETE SET NULL,
    "to_partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE TABLE "user_session" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "last_seen_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "ended_at" TIMESTAMP,
    "end_reason" VARCHAR(32) NOT NULL,
    "address" VARCHAR(64) NOT NULL,
    "user_agent" VARCHAR(128) NOT NULL,
    "user_id" INT NOT NULL REFERENCES "app_user" ("id") ON DELETE CASCADE
);
CREATE TABLE "visit" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "window_start" TIMESTAMP NOT NULL,
    "window_end" TIMESTAMP NOT NULL,
    "status" VARCHAR(12) NOT NULL  /* SCHEDULED: scheduled\nCHECKED_IN: checked_in\nCOMPLETED: completed\nMISSED: missed\nCANCELLED: cancelled */,
    "is_follow_up" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE RESTRICT,
    "request_id" INT NOT NULL REFERENCES "service_request" ("id") ON DELETE CASCADE
, "household_responded_at" TIMESTAMP, "household_response" VARCHAR(12) NOT NULL  /* PENDING: pending\nCONFIRMED: confirmed\nRESCHEDULE_REQUESTED: reschedule\nDECLINED: declined */, "household_response_note" TEXT NOT NULL, "notes" TEXT NOT NULL, "schedule_version" INT NOT NULL);
CREATE TABLE "visit_rhythm" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "interval_days" SMALLINT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE CASCADE,
    "updated_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_visit_rhyth_region__931a06" UNIQUE ("region_id", "kind")
);
CREATE TABLE "volunteer" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "phone" VARCHAR(20) NOT NULL,
    "skills" JSON NOT NULL,
    "home_lat" REAL,
    "home_lon" REAL,
    "max_travel_km" REAL NOT NULL,
    "weekly_availability" JSON NOT NULL,
    "active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "region_id" VARCHAR(12) NOT NULL REFERENCES "region" ("code") ON DELETE RESTRICT
, "calendar_generation" SMALLINT NOT NULL DEFAULT 0, "languages" JSON NOT NULL DEFAULT '[]', "status" VARCHAR(10) NOT NULL DEFAULT 'approved', "approved_at" TIMESTAMP);
CREATE TABLE "volunteer_booking" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "window_start" TIMESTAMP NOT NULL,
    "window_end" TIMESTAMP NOT NULL,
    "active" INT NOT NULL,
    "visit_id" INT NOT NULL REFERENCES "visit" ("id") ON DELETE CASCADE,
    "volunteer_id" INT NOT NULL REFERENCES "volunteer" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_volunteer_b_volunte_f50f8d" UNIQUE ("volunteer_id", "visit_id")
);
CREATE TABLE "volunteer_partner" (
    "volunteer_id" INT NOT NULL REFERENCES "volunteer" ("id") ON DELETE CASCADE,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE TABLE "volunteer_signup_link" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE TABLE "volunteer_time_off" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "first_day" DATE NOT NULL,
    "last_day" DATE NOT NULL,
    "reason" VARCHAR(100) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "volunteer_id" INT NOT NULL REFERENCES "volunteer" ("id") ON DELETE CASCADE
);
CREATE TABLE "webhook_delivery" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "event_type" VARCHAR(32) NOT NULL,
    "payload" JSON NOT NULL,
    "state" VARCHAR(12) NOT NULL,
    "attempts" SMALLINT NOT NULL,
    "next_attempt_at" TIMESTAMP,
    "lease_until" TIMESTAMP,
    "last_status" SMALLINT,
    "last_error" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "delivered_at" TIMESTAMP,
    "endpoint_id" INT NOT NULL REFERENCES "webhook_endpoint" ("id") ON DELETE CASCADE
);
CREATE TABLE "webhook_endpoint" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "url" VARCHAR(500) NOT NULL,
    "event_types" JSON NOT NULL,
    "secret" VARCHAR(64) NOT NULL,
    "active" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "created_by_id" INT REFERENCES "app_user" ("id") ON DELETE SET NULL,
    "partner_id" INT NOT NULL REFERENCES "partner" ("id") ON DELETE CASCADE
);
CREATE INDEX "idx_login_attem_usernam_f387b6" ON "login_attempt" ("username", "at");
CREATE INDEX "idx_login_attem_address_07a4d8" ON "login_attempt" ("address", "at");
CREATE INDEX "idx_region_path_c456b3" ON "region" ("path");
CREATE INDEX "idx_household_head_na_61a39d" ON "household" ("head_name");
CREATE INDEX "idx_household_region__1faa1b" ON "household" ("region_id", "id");
CREATE INDEX "idx_flag_code_b73a58" ON "flag" ("code", "active");
CREATE INDEX "idx_partner_status_34b86f" ON "partner" ("status");
CREATE INDEX "idx_offering_need_id_25468b" ON "offering" ("need_id", "active");
CREATE UNIQUE INDEX "uidx_offering_re_offerin_ed9342" ON "offering_region" ("offering_id", "region_id");
CREATE INDEX "idx_service_req_status_c0c56d" ON "service_request" ("status", "need_id");
CREATE INDEX "idx_service_req_claimed_7dbd25" ON "service_request" ("claimed_by_id", "status");
CREATE UNIQUE INDEX "uidx_volunteer_p_volunte_5e2d07" ON "volunteer_partner" ("volunteer_id", "partner_id");
CREATE INDEX "idx_audit_entry_at_c3f19e" ON "audit_entry" ("at");
CREATE INDEX "idx_audit_entry_object__ec873f" ON "audit_entry" ("object_type", "object_id");
CREATE INDEX "idx_notificatio_status_5b3cdf" ON "notification" ("status", "created_at");
CREATE INDEX "idx_notificatio_user_id_f2b653" ON "notification" ("user_id", "created_at");
CREATE INDEX "idx_request_tra_request_c1224b" ON "request_transition" ("request_id", "at");
CREATE INDEX "idx_visit_status_8ec4af" ON "visit" ("status", "window_start");
CREATE INDEX "idx_visit_partner_b7ef31" ON "visit" ("partner_id", "window_start");
CREATE INDEX "idx_service_rec_complet_26e406" ON "service_record" ("completed_at");
CREATE INDEX "idx_volunteer_b_volunte_a2a633" ON "volunteer_booking" ("volunteer_id", "window_start");
CREATE INDEX "idx_intake_batc_started_c59db1" ON "intake_batch" ("started_at");
CREATE INDEX "idx_intake_batc_batch_i_3114ad" ON "intake_batch_region" ("batch_id", "region_id");
CREATE INDEX "idx_intake_reco_geocode_75e28b" ON "intake_record" ("geocode_pending", "last_batch_id");
CREATE INDEX "idx_intake_reje_batch_i_f0f8c0" ON "intake_rejected_row" ("batch_id", "row");
CREATE INDEX "idx_intake_sign_at_b142e8" ON "intake_signature" ("at");
CREATE INDEX "idx_proposal_it_partner_906c38" ON "proposal_item" ("partner_id", "status");
CREATE INDEX "idx_transfer_re_status_dadce0" ON "transfer_request" ("status", "due_at");
CREATE INDEX "idx_job_outbox_status_923412" ON "job_outbox" ("status", "created_at");
CREATE INDEX "idx_risk_check_househo_9cd4ba" ON "risk_check" ("household_id", "aspect", "resolved_at");
CREATE UNIQUE INDEX "uid_service_rec_client__549d4b" ON "service_record" ("client_key");
CREATE INDEX "idx_delivery_pa_year_b8f944" ON "delivery_participant" ("year", "kind", "region_path");
CREATE INDEX "idx_employment__event_i_f57662" ON "employment_outcome" ("event_id", "kind");
CREATE INDEX "idx_employment__househo_fcebb4" ON "employment_outcome" ("household_id", "kind");
CREATE INDEX "idx_event_partner_2c697b" ON "event" ("partner_id", "status");
CREATE INDEX "idx_service_req_househo_9bd39e" ON "service_request" ("household_id", "status");
CREATE INDEX "idx_visit_request_603a50" ON "visit" ("request_id", "status");
CREATE INDEX "idx_request_mat_partner_29b6be" ON "request_match" ("partner_id", "partner_best", "score", "request_id");
CREATE INDEX "idx_intake_reco_phone_a_76ed3e" ON "intake_record" ("phone_address");
CREATE INDEX "idx_registratio_confirm_253b72" ON "registration" ("confirmed_at", "confirm_by");
CREATE INDEX "idx_login_throt_touched_cfd482" ON "login_throttle" ("touched_at");
CREATE INDEX "idx_user_sessio_user_id_167dd3" ON "user_session" ("user_id", "ended_at");
CREATE INDEX "idx_audit_house_househo_42741a" ON "audit_household" ("household_id", "entry_id");
CREATE INDEX "idx_audit_entry_househo_c6d125" ON "audit_entry" ("household_id", "at");
CREATE INDEX "idx_audit_entry_actor_i_31083a" ON "audit_entry" ("actor_id", "at");
CREATE INDEX "idx_audit_entry_action_996fc3" ON "audit_entry" ("action", "at");
CREATE INDEX "idx_audit_entry_region__b97f66" ON "audit_entry" ("region_path", "at");
CREATE INDEX "idx_intake_conf_status_3600c8" ON "intake_conflict" ("status", "created_at");
CREATE INDEX "idx_request_tra_partner_777167" ON "request_transition" ("partner_id", "at");
CREATE INDEX "idx_board_chang_partner_776d08" ON "board_change" ("partner_id", "id");
CREATE INDEX "idx_board_chang_at_5d5003" ON "board_change" ("at");
CREATE INDEX "idx_webhook_del_endpoin_62c3f9" ON "webhook_delivery" ("endpoint_id", "id");
CREATE INDEX "idx_webhook_del_state_70521b" ON "webhook_delivery" ("state", "next_attempt_at");
CREATE INDEX "idx_growth_entr_year_b04723" ON "growth_entry" ("year", "kind", "region_path");
CREATE UNIQUE INDEX "uid_partner_credit__8e8c9b" ON "partner" ("credit_code");
CREATE UNIQUE INDEX "uidx_partner_ser_partner_199c48" ON "partner_service_region" ("partner_id", "region_id");
CREATE INDEX "idx_consent_rec_househo_cd05ee" ON "consent_record" ("household_id", "at");
CREATE INDEX "idx_task_owner_i_1ea611" ON "task" ("owner_id", "state", "due_at");
CREATE INDEX "idx_task_kind_58e8bb" ON "task" ("kind", "subject_type", "subject_id");
CREATE INDEX "idx_task_state_0ffcd2" ON "task" ("state", "due_at");
CREATE INDEX "idx_household_consent_fb7109" ON "household" ("consent_status", "consent_expires_at");
CREATE INDEX "idx_notificatio_user_id_7b776a" ON "notification" ("user_id", "channel", "read_at");
CREATE INDEX "idx_household_id_number_index" ON "household" ("id_number_index");
CREATE INDEX "idx_household_phone_index" ON "household" ("phone_index");
CREATE INDEX "idx_export_job_request_e01789" ON "export_job" ("requested_by_id", "id");
CREATE INDEX "idx_volunteer_t_volunte_a4810b" ON "volunteer_time_off" ("volunteer_id", "last_day");
CREATE INDEX "idx_case_note_househo_e1c640" ON "case_note" ("household_id", "created_at");
CREATE INDEX "idx_household_c_househo_e05bd2" ON "household_change" ("household_id", "created_at");
CREATE INDEX "idx_needs_asses_househo_ef1b60" ON "needs_assessment" ("household_id", "created_at");
CREATE INDEX "idx_regular_due_worker__ce4651" ON "regular_due" ("worker_id", "due_on");
CREATE INDEX "idx_regular_vis_househo_771cba" ON "regular_visit" ("household_id", "checked_out_at");
CREATE INDEX "idx_regular_ris_househo_f257c4" ON "regular_risk" ("household_id", "aspect", "resolved_at");
CREATE INDEX "idx_eligibility_househo_e9abd8" ON "eligibility_check" ("household_id", "at");
CREATE INDEX "idx_eligibility_partner_b1406b" ON "eligibility_check" ("partner_id", "at");
CREATE INDEX "idx_delivery_ta_year_b17fe8" ON "delivery_tally" ("year", "region_path");
CREATE INDEX "idx_job_outbox_job_nam_f89991" ON "job_outbox" ("job_name", "status", "defer_until");
CREATE INDEX "service_request_waiting_id" ON "service_request" ("id") WHERE status IN ('claimed', 'in_service', 'open', 'scheduled');
CREATE INDEX "service_request_waiting_age" ON "service_request" ("created_at", "id") WHERE status IN ('claimed', 'in_service', 'open', 'scheduled');
CREATE INDEX "idx_notificatio_created_085a7c" ON "notification_key" ("created_at");
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('tortoise_migrations',43);
INSERT INTO "sqlite_sequence" VALUES('request_match',0);
INSERT INTO "sqlite_sequence" VALUES('delivery_tally',0);
COMMIT;

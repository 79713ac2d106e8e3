SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
CREATE FUNCTION public.alliance_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE public.allocation_proposal (
    id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    requests_served integer NOT NULL,
    total_distance_km double precision NOT NULL,
    greedy_requests_served integer NOT NULL,
    greedy_total_distance_km double precision NOT NULL,
    created_by_id integer,
    region_id character varying(12) NOT NULL,
    error character varying(255) NOT NULL,
    finished_at timestamp with time zone,
    progress smallint NOT NULL,
    requests_considered integer NOT NULL,
    stage character varying(16) NOT NULL,
    state character varying(10) NOT NULL
);
CREATE SEQUENCE public.allocation_proposal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.allocation_proposal_id_seq OWNED BY public.allocation_proposal.id;
CREATE TABLE public.app_user (
    id integer NOT NULL,
    username character varying(64) NOT NULL,
    password_hash character varying(255) NOT NULL,
    display_name character varying(64) NOT NULL,
    role character varying(24) NOT NULL,
    language character varying(8),
    is_active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_login_at timestamp with time zone,
    partner_id integer,
    region_id character varying(12),
    volunteer_id integer,
    household_id integer
);
CREATE SEQUENCE public.app_user_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.app_user_id_seq OWNED BY public.app_user.id;
CREATE TABLE public.attendance (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    registration_id integer NOT NULL,
    session_id integer NOT NULL,
    method character varying(8) NOT NULL,
    recorded_by_id integer
);
CREATE SEQUENCE public.attendance_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.attendance_id_seq OWNED BY public.attendance.id;
CREATE TABLE public.audit_archive (
    id integer NOT NULL,
    year smallint NOT NULL,
    table_name character varying(63) NOT NULL,
    first_id bigint NOT NULL,
    last_id bigint NOT NULL,
    entries bigint NOT NULL,
    chained bigint NOT NULL,
    last_hash character varying(64) NOT NULL,
    detached_by character varying(64) NOT NULL,
    detached_at timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.audit_archive_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.audit_archive_id_seq OWNED BY public.audit_archive.id;
CREATE TABLE public.audit_chain_head (
    id smallint NOT NULL,
    last_hash character varying(64) NOT NULL,
    entries bigint NOT NULL
);
CREATE SEQUENCE public.audit_chain_head_id_seq
    AS smallint
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.audit_chain_head_id_seq OWNED BY public.audit_chain_head.id;
CREATE TABLE public.audit_entry (
    id bigint NOT NULL,
    action character varying(64) NOT NULL,
    object_type character varying(32) NOT NULL,
    object_id character varying(64) NOT NULL,
    details jsonb NOT NULL,
    address character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL,
    actor_id integer,
    actor_name character varying(64) DEFAULT ''::character varying NOT NULL,
    actor_partner_id integer,
    actor_token_id integer,
    entry_hash character varying(64) DEFAULT ''::character varying NOT NULL,
    household_id integer,
    prev_hash character varying(64) DEFAULT ''::character varying NOT NULL,
    region_path character varying(128) DEFAULT ''::character varying NOT NULL
)
PARTITION BY RANGE (at);
CREATE SEQUENCE public.audit_entry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.audit_entry_id_seq OWNED BY public.audit_entry.id;
CREATE TABLE public.audit_entry_default (
    id bigint DEFAULT nextval('public.audit_entry_id_seq'::regclass) NOT NULL,
    action character varying(64) NOT NULL,
    object_type character varying(32) NOT NULL,
    object_id character varying(64) NOT NULL,
    details jsonb NOT NULL,
    address character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL,
    actor_id integer,
    actor_name character varying(64) DEFAULT ''::character varying NOT NULL,
    actor_partner_id integer,
    actor_token_id integer,
    entry_hash character varying(64) DEFAULT ''::character varying NOT NULL,
    household_id integer,
    prev_hash character varying(64) DEFAULT ''::character varying NOT NULL,
    region_path character varying(128) DEFAULT ''::character varying NOT NULL
);
CREATE TABLE public.audit_household (
    id bigint NOT NULL,
    household_id integer NOT NULL,
    entry_id bigint NOT NULL
);
CREATE SEQUENCE public.audit_household_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.audit_household_id_seq OWNED BY public.audit_household.id;
CREATE TABLE public.board_change (
    id bigint NOT NULL,
    partner_id integer,
    at timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.board_change_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.board_change_id_seq OWNED BY public.board_change.id;
CREATE TABLE public.calendar_day (
    id integer NOT NULL,
    day date NOT NULL,
    kind character varying(16) NOT NULL,
    name character varying(100) NOT NULL,
    shift smallint NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    updated_by_id integer
);
CREATE SEQUENCE public.calendar_day_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.calendar_day_id_seq OWNED BY public.calendar_day.id;
CREATE TABLE public.case_note (
    id integer NOT NULL,
    kind character varying(8) NOT NULL,
    text text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    author_id integer,
    household_id integer NOT NULL
);
CREATE SEQUENCE public.case_note_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.case_note_id_seq OWNED BY public.case_note.id;
CREATE TABLE public.check_in (
    id integer NOT NULL,
    method character varying(12) NOT NULL,
    lat double precision,
    lon double precision,
    distance_m double precision,
    needs_review boolean NOT NULL,
    reason character varying(255) NOT NULL,
    client_key character varying(64),
    at timestamp with time zone NOT NULL,
    checked_out_at timestamp with time zone,
    recorded_by_id integer,
    visit_id integer NOT NULL,
    volunteer_id integer,
    reviewed_at timestamp with time zone,
    reviewed_by_id integer
);
CREATE SEQUENCE public.check_in_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.check_in_id_seq OWNED BY public.check_in.id;
CREATE TABLE public.cockpit_snapshot (
    id integer NOT NULL,
    region_code character varying(12) NOT NULL,
    year smallint NOT NULL,
    days smallint NOT NULL,
    computed_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    figures jsonb NOT NULL
);
CREATE SEQUENCE public.cockpit_snapshot_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.cockpit_snapshot_id_seq OWNED BY public.cockpit_snapshot.id;
CREATE TABLE public.consent_record (
    id integer NOT NULL,
    status character varying(12) NOT NULL,
    scope jsonb NOT NULL,
    method character varying(20) NOT NULL,
    witness character varying(64) NOT NULL,
    expires_at timestamp with time zone,
    by_household boolean NOT NULL,
    at timestamp with time zone NOT NULL,
    household_id integer NOT NULL,
    recorded_by_id integer
);
CREATE SEQUENCE public.consent_record_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.consent_record_id_seq OWNED BY public.consent_record.id;
CREATE TABLE public.delivery_participant (
    id bigint NOT NULL,
    key character varying(96) NOT NULL,
    year smallint NOT NULL,
    kind character varying(12) NOT NULL,
    ref_id integer NOT NULL,
    region_path character varying(128) NOT NULL,
    region_id character varying(12) NOT NULL
);
CREATE SEQUENCE public.delivery_participant_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.delivery_participant_id_seq OWNED BY public.delivery_participant.id;
CREATE TABLE public.delivery_tally (
    id bigint NOT NULL,
    key character varying(96) NOT NULL,
    year smallint NOT NULL,
    month smallint NOT NULL,
    region_path character varying(128) NOT NULL,
    person_times integer NOT NULL,
    deliveries integer NOT NULL,
    partner_id integer,
    project_id integer,
    region_id character varying(12) NOT NULL
);
CREATE SEQUENCE public.delivery_tally_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.delivery_tally_id_seq OWNED BY public.delivery_tally.id;
CREATE TABLE public.duplicate_dismissal (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    dismissed_by_id integer,
    household_id integer NOT NULL,
    other_id integer NOT NULL
);
CREATE SEQUENCE public.duplicate_dismissal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.duplicate_dismissal_id_seq OWNED BY public.duplicate_dismissal.id;
CREATE TABLE public.eligibility_check (
    id bigint NOT NULL,
    token_id integer,
    channel character varying(16) NOT NULL,
    result character varying(16) NOT NULL,
    condition character varying(32) NOT NULL,
    valid_until timestamp with time zone,
    at timestamp with time zone NOT NULL,
    checked_by_id integer,
    household_id integer,
    offering_id integer,
    partner_id integer NOT NULL
);
CREATE SEQUENCE public.eligibility_check_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.eligibility_check_id_seq OWNED BY public.eligibility_check.id;
CREATE TABLE public.employment_outcome (
    id integer NOT NULL,
    kind character varying(12) NOT NULL,
    employer character varying(128) NOT NULL,
    job character varying(128) NOT NULL,
    note character varying(255) NOT NULL,
    at timestamp with time zone NOT NULL,
    event_id integer NOT NULL,
    household_id integer NOT NULL,
    recorded_by_id integer,
    registration_id integer
);
CREATE SEQUENCE public.employment_outcome_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.employment_outcome_id_seq OWNED BY public.employment_outcome.id;
CREATE TABLE public.event (
    id integer NOT NULL,
    kind character varying(12) NOT NULL,
    title character varying(128) NOT NULL,
    venue character varying(255) NOT NULL,
    venue_lat double precision,
    venue_lon double precision,
    seats integer NOT NULL,
    eligibility_flags jsonb NOT NULL,
    venue_accessibility jsonb NOT NULL,
    employers jsonb NOT NULL,
    registration_deadline timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    offering_id integer NOT NULL,
    partner_id integer NOT NULL,
    project_id integer,
    created_by_id integer,
    description text NOT NULL,
    seats_taken integer NOT NULL,
    status character varying(12) NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    waitlist_margin integer NOT NULL
);
CREATE SEQUENCE public.event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.event_id_seq OWNED BY public.event.id;
CREATE TABLE public.event_invitation (
    id integer NOT NULL,
    rank integer NOT NULL,
    score double precision NOT NULL,
    distance_km double precision,
    reasons jsonb NOT NULL,
    notified_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    event_id integer NOT NULL,
    household_id integer NOT NULL,
    request_id integer
);
CREATE SEQUENCE public.event_invitation_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.event_invitation_id_seq OWNED BY public.event_invitation.id;
CREATE TABLE public.event_session (
    id integer NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    event_id integer NOT NULL
);
CREATE SEQUENCE public.event_session_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.event_session_id_seq OWNED BY public.event_session.id;
CREATE TABLE public.export_job (
    id integer NOT NULL,
    kind character varying(32) NOT NULL,
    params jsonb NOT NULL,
    scope character varying(255) NOT NULL,
    language character varying(8) NOT NULL,
    state character varying(10) NOT NULL,
    progress smallint NOT NULL,
    row_count integer NOT NULL,
    file_path character varying(500) NOT NULL,
    file_name character varying(200) NOT NULL,
    error character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    expires_at timestamp with time zone,
    requested_by_id integer NOT NULL
);
CREATE SEQUENCE public.export_job_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.export_job_id_seq OWNED BY public.export_job.id;
CREATE TABLE public.flag (
    id integer NOT NULL,
    code character varying(32) NOT NULL,
    source character varying(64) NOT NULL,
    detected_at timestamp with time zone NOT NULL,
    severity smallint NOT NULL,
    active boolean NOT NULL,
    deactivated_at timestamp with time zone,
    household_id integer NOT NULL
);
CREATE SEQUENCE public.flag_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.flag_id_seq OWNED BY public.flag.id;
CREATE TABLE public.flag_need_rule (
    id integer NOT NULL,
    flag character varying(32) NOT NULL,
    need_id character varying(32) NOT NULL
);
CREATE SEQUENCE public.flag_need_rule_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.flag_need_rule_id_seq OWNED BY public.flag_need_rule.id;
CREATE TABLE public.growth_entry (
    id bigint NOT NULL,
    key character varying(64) NOT NULL,
    kind character varying(12) NOT NULL,
    ref_id integer NOT NULL,
    year smallint NOT NULL,
    region_path character varying(128) NOT NULL,
    joined_at timestamp with time zone NOT NULL,
    project_id integer,
    region_id character varying(12) NOT NULL
);
CREATE SEQUENCE public.growth_entry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.growth_entry_id_seq OWNED BY public.growth_entry.id;
CREATE TABLE public.household (
    id integer NOT NULL,
    external_id character varying(64) NOT NULL,
    head_name character varying(64) NOT NULL,
    address character varying(255) NOT NULL,
    lat double precision,
    lon double precision,
    location_precision character varying(8) NOT NULL,
    member_count smallint NOT NULL,
    accessibility jsonb NOT NULL,
    contact_preference character varying(20) NOT NULL,
    consent boolean NOT NULL,
    consent_recorded_at timestamp with time zone,
    consent_recorded_by_id integer,
    verified boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    possible_duplicate_of_id integer,
    region_id character varying(12) NOT NULL,
    card_serial smallint NOT NULL,
    consent_expires_at timestamp with time zone,
    consent_method character varying(20) DEFAULT 'assistance_system'::character varying NOT NULL,
    consent_scope jsonb,
    consent_status character varying(12) DEFAULT 'system'::character varying NOT NULL,
    matchable boolean DEFAULT true NOT NULL,
    verification_method character varying(16) DEFAULT ''::character varying NOT NULL,
    verified_at timestamp with time zone,
    verified_by_id integer,
    id_number_index character varying(64),
    phone_index character varying(64),
    id_number_enc character varying(160),
    phone_enc character varying(160)
);
CREATE TABLE public.household_change (
    id integer NOT NULL,
    kind character varying(16) NOT NULL,
    details text NOT NULL,
    on_behalf boolean NOT NULL,
    verified_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    household_id integer NOT NULL,
    reported_by_id integer,
    verified_by_id integer
);
CREATE SEQUENCE public.household_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.household_change_id_seq OWNED BY public.household_change.id;
CREATE SEQUENCE public.household_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.household_id_seq OWNED BY public.household.id;
CREATE TABLE public.household_merge (
    id integer NOT NULL,
    external_id character varying(64) NOT NULL,
    snapshot jsonb NOT NULL,
    at timestamp with time zone NOT NULL,
    kept_id integer NOT NULL,
    merged_by_id integer
);
CREATE SEQUENCE public.household_merge_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.household_merge_id_seq OWNED BY public.household_merge.id;
CREATE TABLE public.inbound_reply (
    id bigint NOT NULL,
    message_id character varying(64) NOT NULL,
    channel character varying(8) NOT NULL,
    sender character varying(32) NOT NULL,
    text character varying(500) NOT NULL,
    outcome character varying(16) NOT NULL,
    received_at timestamp with time zone NOT NULL,
    gateway_id integer NOT NULL,
    household_id integer,
    visit_id integer
);
CREATE SEQUENCE public.inbound_reply_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.inbound_reply_id_seq OWNED BY public.inbound_reply.id;
CREATE TABLE public.intake_batch (
    id integer NOT NULL,
    channel character varying(8) NOT NULL,
    filename character varying(255) NOT NULL,
    status character varying(12) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    total_rows integer NOT NULL,
    created integer NOT NULL,
    updated integer NOT NULL,
    unchanged integer NOT NULL,
    rejected integer NOT NULL,
    requests_created integer NOT NULL,
    error text NOT NULL,
    source_id integer
);
CREATE SEQUENCE public.intake_batch_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_batch_id_seq OWNED BY public.intake_batch.id;
CREATE TABLE public.intake_batch_region (
    id integer NOT NULL,
    created integer NOT NULL,
    updated integer NOT NULL,
    unchanged integer NOT NULL,
    rejected integer NOT NULL,
    requests_created integer NOT NULL,
    batch_id integer NOT NULL,
    region_id character varying(12)
);
CREATE SEQUENCE public.intake_batch_region_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_batch_region_id_seq OWNED BY public.intake_batch_region.id;
CREATE TABLE public.intake_conflict (
    id integer NOT NULL,
    "row" integer NOT NULL,
    external_id character varying(64) NOT NULL,
    record jsonb NOT NULL,
    status character varying(8) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    resolved_at timestamp with time zone,
    batch_id integer NOT NULL,
    household_id integer NOT NULL,
    resolved_by_id integer,
    source_id integer
);
CREATE SEQUENCE public.intake_conflict_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_conflict_id_seq OWNED BY public.intake_conflict.id;
CREATE TABLE public.intake_record (
    id integer NOT NULL,
    explicit_needs jsonb NOT NULL,
    geocode_pending boolean NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    last_batch_id integer,
    source_id integer,
    household_id integer NOT NULL,
    phone_address character varying(300)
);
CREATE SEQUENCE public.intake_record_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_record_id_seq OWNED BY public.intake_record.id;
CREATE TABLE public.intake_rejected_row (
    id bigint NOT NULL,
    "row" integer NOT NULL,
    external_id character varying(64) NOT NULL,
    errors jsonb NOT NULL,
    record jsonb NOT NULL,
    batch_id integer NOT NULL,
    slice_id integer NOT NULL
);
CREATE SEQUENCE public.intake_rejected_row_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_rejected_row_id_seq OWNED BY public.intake_rejected_row.id;
CREATE TABLE public.intake_signature (
    id bigint NOT NULL,
    signature character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL,
    source_id integer NOT NULL
);
CREATE SEQUENCE public.intake_signature_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_signature_id_seq OWNED BY public.intake_signature.id;
CREATE TABLE public.intake_source (
    id integer NOT NULL,
    name character varying(64) NOT NULL,
    secret character varying(128) NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_used_at timestamp with time zone
);
CREATE SEQUENCE public.intake_source_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.intake_source_id_seq OWNED BY public.intake_source.id;
CREATE TABLE public.job_outbox (
    id bigint NOT NULL,
    job_name character varying(64) NOT NULL,
    args jsonb NOT NULL,
    job_id character varying(160) NOT NULL,
    defer_until timestamp with time zone,
    status character varying(8) NOT NULL,
    attempts smallint NOT NULL,
    error character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    enqueued_at timestamp with time zone,
    request_id character varying(32) DEFAULT ''::character varying NOT NULL
);
CREATE SEQUENCE public.job_outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.job_outbox_id_seq OWNED BY public.job_outbox.id;
CREATE TABLE public.login_attempt (
    id bigint NOT NULL,
    username character varying(64) NOT NULL,
    address character varying(64) NOT NULL,
    succeeded boolean NOT NULL,
    at timestamp with time zone NOT NULL,
    throttled boolean NOT NULL
);
CREATE SEQUENCE public.login_attempt_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.login_attempt_id_seq OWNED BY public.login_attempt.id;
CREATE TABLE public.login_throttle (
    key character varying(160) NOT NULL,
    failures integer NOT NULL,
    window_started_at timestamp with time zone,
    last_failure_at timestamp with time zone,
    next_allowed_at timestamp with time zone,
    touched_at timestamp with time zone
);
CREATE TABLE public.need_category (
    code character varying(32) NOT NULL,
    name_zh character varying(64) NOT NULL,
    name_en character varying(64) NOT NULL
);
CREATE TABLE public.needs_assessment (
    id integer NOT NULL,
    need character varying(32) NOT NULL,
    description text NOT NULL,
    severity smallint NOT NULL,
    since date,
    outcome character varying(12) NOT NULL,
    close_note character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    assessed_by_id integer,
    household_id integer NOT NULL,
    request_id integer
);
CREATE SEQUENCE public.needs_assessment_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.needs_assessment_id_seq OWNED BY public.needs_assessment.id;
CREATE TABLE public.notification (
    id bigint NOT NULL,
    channel character varying(8) NOT NULL,
    language character varying(8) NOT NULL,
    subject character varying(255) NOT NULL,
    body text NOT NULL,
    status character varying(8) NOT NULL,
    dedupe_key character varying(128),
    attempts smallint NOT NULL,
    error character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone,
    read_at timestamp with time zone,
    household_id integer,
    user_id integer,
    kind character varying(32) NOT NULL,
    recipient character varying(160) NOT NULL,
    visit_id integer,
    lease_until timestamp with time zone
)
PARTITION BY RANGE (created_at);
CREATE SEQUENCE public.notification_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.notification_id_seq OWNED BY public.notification.id;
CREATE TABLE public.notification_default (
    id bigint DEFAULT nextval('public.notification_id_seq'::regclass) NOT NULL,
    channel character varying(8) NOT NULL,
    language character varying(8) NOT NULL,
    subject character varying(255) NOT NULL,
    body text NOT NULL,
    status character varying(8) NOT NULL,
    dedupe_key character varying(128),
    attempts smallint NOT NULL,
    error character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone,
    read_at timestamp with time zone,
    household_id integer,
    user_id integer,
    kind character varying(32) NOT NULL,
    recipient character varying(160) NOT NULL,
    visit_id integer,
    lease_until timestamp with time zone
);
CREATE TABLE public.notification_key (
    key character varying(128) NOT NULL,
    created_at timestamp with time zone NOT NULL
);
CREATE TABLE public.offering (
    id integer NOT NULL,
    title character varying(128) NOT NULL,
    description text NOT NULL,
    eligibility_flags jsonb NOT NULL,
    base_lat double precision,
    base_lon double precision,
    radius_km double precision,
    monthly_capacity integer NOT NULL,
    delivery_mode character varying(16) NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    need_id character varying(32) NOT NULL,
    partner_id integer NOT NULL,
    project_id integer
);
CREATE SEQUENCE public.offering_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.offering_id_seq OWNED BY public.offering.id;
CREATE TABLE public.offering_month (
    id integer NOT NULL,
    month character varying(7) NOT NULL,
    claimed integer NOT NULL,
    offering_id integer NOT NULL
);
CREATE SEQUENCE public.offering_month_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.offering_month_id_seq OWNED BY public.offering_month.id;
CREATE TABLE public.offering_region (
    offering_id integer NOT NULL,
    region_id character varying(12) NOT NULL
);
CREATE TABLE public.partner (
    id integer NOT NULL,
    name character varying(128) NOT NULL,
    kind character varying(24) NOT NULL,
    status character varying(12) NOT NULL,
    description text NOT NULL,
    contact_name character varying(64) NOT NULL,
    contact_phone character varying(20) NOT NULL,
    status_changed_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    region_id character varying(12) NOT NULL,
    claims_paused_until timestamp with time zone,
    approved_at timestamp with time zone,
    changes_requested text DEFAULT ''::text NOT NULL,
    contact_email character varying(128) DEFAULT ''::character varying NOT NULL,
    credit_code character varying(18),
    offered_needs jsonb DEFAULT '[]'::jsonb NOT NULL,
    submitted_at timestamp with time zone
);
CREATE SEQUENCE public.partner_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.partner_id_seq OWNED BY public.partner.id;
CREATE TABLE public.partner_service_region (
    partner_id integer NOT NULL,
    region_id character varying(12) NOT NULL
);
CREATE TABLE public.partner_token (
    id integer NOT NULL,
    name character varying(64) NOT NULL,
    token_hash character varying(64) NOT NULL,
    prefix character varying(12) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    created_by_id integer,
    partner_id integer NOT NULL
);
CREATE SEQUENCE public.partner_token_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.partner_token_id_seq OWNED BY public.partner_token.id;
CREATE TABLE public.password_reset (
    id bigint NOT NULL,
    secret_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    issued_by_id integer,
    user_id integer NOT NULL
);
CREATE SEQUENCE public.password_reset_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.password_reset_id_seq OWNED BY public.password_reset.id;
CREATE TABLE public.project (
    id integer NOT NULL,
    year smallint NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(128) NOT NULL,
    name_en character varying(128) NOT NULL,
    target_person_times integer NOT NULL,
    needs character varying(400) DEFAULT ''::character varying NOT NULL,
    active boolean DEFAULT true NOT NULL,
    updated_at timestamp with time zone
);
CREATE SEQUENCE public.project_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.project_id_seq OWNED BY public.project.id;
CREATE TABLE public.project_partner (
    id integer NOT NULL,
    added_at timestamp with time zone NOT NULL,
    partner_id integer NOT NULL,
    project_id integer NOT NULL
);
CREATE SEQUENCE public.project_partner_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.project_partner_id_seq OWNED BY public.project_partner.id;
CREATE TABLE public.promise_snapshot (
    id integer NOT NULL,
    region_code character varying(12) NOT NULL,
    year smallint NOT NULL,
    computed_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    figures jsonb NOT NULL
);
CREATE SEQUENCE public.promise_snapshot_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.promise_snapshot_id_seq OWNED BY public.promise_snapshot.id;
CREATE TABLE public.proposal_item (
    id integer NOT NULL,
    distance_km double precision,
    status character varying(12) NOT NULL,
    decided_at timestamp with time zone,
    offering_id integer NOT NULL,
    partner_id integer NOT NULL,
    proposal_id integer NOT NULL,
    request_id integer NOT NULL
);
CREATE SEQUENCE public.proposal_item_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.proposal_item_id_seq OWNED BY public.proposal_item.id;
CREATE TABLE public.referral (
    id integer NOT NULL,
    source character varying(16) NOT NULL,
    referrer_name character varying(64) NOT NULL,
    referrer_agency character varying(128) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    registered_by_id integer,
    household_id integer NOT NULL
);
CREATE SEQUENCE public.referral_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.referral_id_seq OWNED BY public.referral.id;
CREATE TABLE public.region (
    code character varying(12) NOT NULL,
    name character varying(64) NOT NULL,
    name_en character varying(64) NOT NULL,
    level character varying(16) NOT NULL,
    path character varying(128) NOT NULL,
    depth smallint NOT NULL,
    lat double precision,
    lon double precision,
    parent_id character varying(12),
    escalate_unclaimed_after_days smallint,
    schedule_claim_within_days smallint,
    verification_required boolean,
    transfer_auto_approve_hours smallint,
    checkin_radius_m smallint
);
CREATE TABLE public.registration (
    id integer NOT NULL,
    status character varying(12) NOT NULL,
    waitlist_position integer,
    created_at timestamp with time zone NOT NULL,
    event_id integer NOT NULL,
    household_id integer NOT NULL,
    registered_by_id integer,
    cancel_reason character varying(255) NOT NULL,
    cancelled_at timestamp with time zone,
    request_id integer,
    updated_at timestamp with time zone NOT NULL,
    asked_at timestamp with time zone,
    asked_note character varying(255) NOT NULL,
    asked_via character varying(16) NOT NULL,
    confirm_by timestamp with time zone,
    confirmed_at timestamp with time zone,
    confirmed_via character varying(16) NOT NULL
);
CREATE SEQUENCE public.registration_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.registration_id_seq OWNED BY public.registration.id;
CREATE TABLE public.regular_due (
    id integer NOT NULL,
    kind character varying(16) NOT NULL,
    interval_days smallint NOT NULL,
    last_visit_at timestamp with time zone,
    due_on date NOT NULL,
    refreshed_at timestamp with time zone NOT NULL,
    household_id integer NOT NULL,
    worker_id integer NOT NULL
);
CREATE SEQUENCE public.regular_due_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.regular_due_id_seq OWNED BY public.regular_due.id;
CREATE TABLE public.regular_risk (
    id integer NOT NULL,
    aspect character varying(12) NOT NULL,
    level character varying(8) NOT NULL,
    note character varying(255) NOT NULL,
    due_on date,
    resolved_at timestamp with time zone,
    escalated_at timestamp with time zone,
    household_id integer NOT NULL,
    owner_id integer,
    resolved_by_id integer,
    visit_id integer NOT NULL
);
CREATE SEQUENCE public.regular_risk_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.regular_risk_id_seq OWNED BY public.regular_risk.id;
CREATE TABLE public.regular_visit (
    id integer NOT NULL,
    method character varying(12) NOT NULL,
    lat double precision,
    lon double precision,
    distance_m double precision,
    needs_review boolean NOT NULL,
    reason character varying(255) NOT NULL,
    checked_in_at timestamp with time zone NOT NULL,
    checked_out_at timestamp with time zone,
    notes text NOT NULL,
    persons_served smallint NOT NULL,
    client_key character varying(64),
    household_id integer NOT NULL,
    worker_id integer NOT NULL
);
CREATE SEQUENCE public.regular_visit_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.regular_visit_id_seq OWNED BY public.regular_visit.id;
CREATE TABLE public.request_match (
    id bigint NOT NULL,
    score double precision NOT NULL,
    distance_km double precision,
    reasons text NOT NULL,
    computed_at timestamp with time zone NOT NULL,
    offering_id integer NOT NULL,
    partner_id integer NOT NULL,
    request_id integer NOT NULL,
    partner_best boolean DEFAULT true NOT NULL
);
CREATE SEQUENCE public.request_match_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.request_match_id_seq OWNED BY public.request_match.id;
CREATE TABLE public.request_transition (
    id bigint NOT NULL,
    from_status character varying(12),
    to_status character varying(12) NOT NULL,
    reason character varying(255) NOT NULL,
    at timestamp with time zone NOT NULL,
    actor_id integer,
    partner_id integer,
    request_id integer NOT NULL
);
CREATE SEQUENCE public.request_transition_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.request_transition_id_seq OWNED BY public.request_transition.id;
CREATE TABLE public.response_promise (
    id integer NOT NULL,
    need character varying(32) NOT NULL,
    first_contact_days smallint,
    service_days smallint,
    updated_at timestamp with time zone NOT NULL,
    region_id character varying(12) NOT NULL,
    updated_by_id integer
);
CREATE SEQUENCE public.response_promise_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.response_promise_id_seq OWNED BY public.response_promise.id;
CREATE TABLE public.risk_check (
    id integer NOT NULL,
    aspect character varying(12) NOT NULL,
    level character varying(8) NOT NULL,
    note character varying(255) NOT NULL,
    record_id integer NOT NULL,
    follow_up_request_id integer,
    follow_up_visit_id integer,
    household_id integer,
    resolved_at timestamp with time zone,
    resolved_by_id integer
);
CREATE SEQUENCE public.risk_check_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.risk_check_id_seq OWNED BY public.risk_check.id;
CREATE TABLE public.service_record (
    id integer NOT NULL,
    service text NOT NULL,
    duration_minutes integer NOT NULL,
    persons_served smallint NOT NULL,
    notes text NOT NULL,
    completed_at timestamp with time zone NOT NULL,
    confirmation_code character varying(8),
    confirmed_at timestamp with time zone,
    rating smallint,
    comment text NOT NULL,
    visit_id integer NOT NULL,
    client_key character varying(64),
    confirmed_by_id integer,
    rated_at timestamp with time zone,
    recorded_by_id integer
);
CREATE SEQUENCE public.service_record_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.service_record_id_seq OWNED BY public.service_record.id;
CREATE TABLE public.service_request (
    id integer NOT NULL,
    status character varying(12) NOT NULL,
    active_key character varying(64),
    priority smallint NOT NULL,
    escalated boolean NOT NULL,
    claimed_at timestamp with time zone,
    close_reason character varying(16),
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    claimed_by_id integer,
    household_id integer NOT NULL,
    need_id character varying(32) NOT NULL,
    offering_id integer,
    claim_warned_at timestamp with time zone,
    matched_at timestamp with time zone,
    escalated_at timestamp with time zone
);
CREATE SEQUENCE public.service_request_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.service_request_id_seq OWNED BY public.service_request.id;
CREATE TABLE public.staff_invitation (
    id integer NOT NULL,
    role character varying(24) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    invited_by_id integer,
    partner_id integer NOT NULL,
    reset_id bigint,
    user_id integer NOT NULL
);
CREATE SEQUENCE public.staff_invitation_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.staff_invitation_id_seq OWNED BY public.staff_invitation.id;
CREATE TABLE public.supervision_snapshot (
    id integer NOT NULL,
    region_code character varying(12) NOT NULL,
    computed_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    figures jsonb NOT NULL
);
CREATE SEQUENCE public.supervision_snapshot_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.supervision_snapshot_id_seq OWNED BY public.supervision_snapshot.id;
CREATE TABLE public.target (
    id integer NOT NULL,
    year smallint NOT NULL,
    metric character varying(16) NOT NULL,
    scope_key character varying(32) NOT NULL,
    value integer NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    project_id integer,
    region_id character varying(12)
);
CREATE TABLE public.target_change (
    id integer NOT NULL,
    old_value integer,
    new_value integer NOT NULL,
    at timestamp with time zone NOT NULL,
    changed_by_id integer,
    target_id integer NOT NULL
);
CREATE SEQUENCE public.target_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.target_change_id_seq OWNED BY public.target_change.id;
CREATE SEQUENCE public.target_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.target_id_seq OWNED BY public.target.id;
CREATE TABLE public.task (
    id bigint NOT NULL,
    kind character varying(24) NOT NULL,
    subject_type character varying(24) NOT NULL,
    subject_id character varying(32) NOT NULL,
    params jsonb NOT NULL,
    due_at timestamp with time zone,
    state character varying(8) NOT NULL,
    open_key character varying(128),
    created_at timestamp with time zone NOT NULL,
    closed_at timestamp with time zone,
    close_note character varying(64) NOT NULL,
    closed_by_id integer,
    owner_id integer NOT NULL
);
CREATE SEQUENCE public.task_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.task_id_seq OWNED BY public.task.id;
CREATE TABLE public.tortoise_migrations (
    id integer NOT NULL,
    app character varying(255) NOT NULL,
    name character varying(255) NOT NULL,
    applied_at timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.tortoise_migrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.tortoise_migrations_id_seq OWNED BY public.tortoise_migrations.id;
CREATE TABLE public.transfer_request (
    id integer NOT NULL,
    reason character varying(255) NOT NULL,
    status character varying(16) NOT NULL,
    decision_note character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    due_at timestamp with time zone NOT NULL,
    decided_at timestamp with time zone,
    decided_by_id integer,
    from_partner_id integer NOT NULL,
    request_id integer NOT NULL,
    requested_by_id integer,
    to_offering_id integer,
    to_partner_id integer NOT NULL
);
CREATE SEQUENCE public.transfer_request_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.transfer_request_id_seq OWNED BY public.transfer_request.id;
CREATE TABLE public.user_session (
    id bigint NOT NULL,
    key_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    end_reason character varying(32) NOT NULL,
    address character varying(64) NOT NULL,
    user_agent character varying(128) NOT NULL,
    user_id integer NOT NULL
);
CREATE SEQUENCE public.user_session_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.user_session_id_seq OWNED BY public.user_session.id;
CREATE TABLE public.visit (
    id integer NOT NULL,
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    status character varying(12) NOT NULL,
    is_follow_up boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    created_by_id integer,
    partner_id integer NOT NULL,
    request_id integer NOT NULL,
    household_responded_at timestamp with time zone,
    household_response character varying(12) NOT NULL,
    household_response_note text NOT NULL,
    notes text NOT NULL,
    schedule_version integer NOT NULL
);
CREATE SEQUENCE public.visit_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.visit_id_seq OWNED BY public.visit.id;
CREATE TABLE public.visit_rhythm (
    id integer NOT NULL,
    kind character varying(16) NOT NULL,
    interval_days smallint NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    region_id character varying(12) NOT NULL,
    updated_by_id integer
);
CREATE SEQUENCE public.visit_rhythm_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.visit_rhythm_id_seq OWNED BY public.visit_rhythm.id;
CREATE TABLE public.volunteer (
    id integer NOT NULL,
    name character varying(64) NOT NULL,
    phone character varying(160) NOT NULL,
    skills jsonb NOT NULL,
    home_lat double precision,
    home_lon double precision,
    max_travel_km double precision NOT NULL,
    weekly_availability jsonb NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    region_id character varying(12) NOT NULL,
    calendar_generation smallint DEFAULT 0 NOT NULL,
    languages jsonb DEFAULT '[]'::jsonb NOT NULL,
    status character varying(10) DEFAULT 'approved'::character varying NOT NULL,
    approved_at timestamp with time zone
);
CREATE TABLE public.volunteer_booking (
    id integer NOT NULL,
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    active boolean NOT NULL,
    visit_id integer NOT NULL,
    volunteer_id integer NOT NULL
);
CREATE SEQUENCE public.volunteer_booking_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.volunteer_booking_id_seq OWNED BY public.volunteer_booking.id;
CREATE SEQUENCE public.volunteer_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.volunteer_id_seq OWNED BY public.volunteer.id;
CREATE TABLE public.volunteer_partner (
    volunteer_id integer NOT NULL,
    partner_id integer NOT NULL
);
CREATE TABLE public.volunteer_signup_link (
    id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    created_by_id integer,
    partner_id integer NOT NULL
);
CREATE SEQUENCE public.volunteer_signup_link_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.volunteer_signup_link_id_seq OWNED BY public.volunteer_signup_link.id;
CREATE TABLE public.volunteer_time_off (
    id integer NOT NULL,
    first_day date NOT NULL,
    last_day date NOT NULL,
    reason character varying(100) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    volunteer_id integer NOT NULL
);
CREATE SEQUENCE public.volunteer_time_off_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.volunteer_time_off_id_seq OWNED BY public.volunteer_time_off.id;
CREATE TABLE public.webhook_delivery (
    id bigint NOT NULL,
    event_type character varying(32) NOT NULL,
    payload jsonb NOT NULL,
    state character varying(12) NOT NULL,
    attempts smallint NOT NULL,
    next_attempt_at timestamp with time zone,
    lease_until timestamp with time zone,
    last_status smallint,
    last_error character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    delivered_at timestamp with time zone,
    endpoint_id integer NOT NULL
);
CREATE SEQUENCE public.webhook_delivery_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.webhook_delivery_id_seq OWNED BY public.webhook_delivery.id;
CREATE TABLE public.webhook_endpoint (
    id integer NOT NULL,
    url character varying(500) NOT NULL,
    event_types jsonb NOT NULL,
    secret character varying(64) NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    created_by_id integer,
    partner_id integer NOT NULL
);
CREATE SEQUENCE public.webhook_endpoint_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.webhook_endpoint_id_seq OWNED BY public.webhook_endpoint.id;
ALTER TABLE ONLY public.audit_entry ATTACH PARTITION public.audit_entry_default DEFAULT;
ALTER TABLE ONLY public.notification ATTACH PARTITION public.notification_default DEFAULT;
ALTER TABLE ONLY public.allocation_proposal ALTER COLUMN id SET DEFAULT nextval('public.allocation_proposal_id_seq'::regclass);
ALTER TABLE ONLY public.app_user ALTER COLUMN id SET DEFAULT nextval('public.app_user_id_seq'::regclass);
ALTER TABLE ONLY public.attendance ALTER COLUMN id SET DEFAULT nextval('public.attendance_id_seq'::regclass);
ALTER TABLE ONLY public.audit_archive ALTER COLUMN id SET DEFAULT nextval('public.audit_archive_id_seq'::regclass);
ALTER TABLE ONLY public.audit_chain_head ALTER COLUMN id SET DEFAULT nextval('public.audit_chain_head_id_seq'::regclass);
ALTER TABLE ONLY public.audit_entry ALTER COLUMN id SET DEFAULT nextval('public.audit_entry_id_seq'::regclass);
ALTER TABLE ONLY public.audit_household ALTER COLUMN id SET DEFAULT nextval('public.audit_household_id_seq'::regclass);
ALTER TABLE ONLY public.board_change ALTER COLUMN id SET DEFAULT nextval('public.board_change_id_seq'::regclass);
ALTER TABLE ONLY public.calendar_day ALTER COLUMN id SET DEFAULT nextval('public.calendar_day_id_seq'::regclass);
ALTER TABLE ONLY public.case_note ALTER COLUMN id SET DEFAULT nextval('public.case_note_id_seq'::regclass);
ALTER TABLE ONLY public.check_in ALTER COLUMN id SET DEFAULT nextval('public.check_in_id_seq'::regclass);
ALTER TABLE ONLY public.cockpit_snapshot ALTER COLUMN id SET DEFAULT nextval('public.cockpit_snapshot_id_seq'::regclass);
ALTER TABLE ONLY public.consent_record ALTER COLUMN id SET DEFAULT nextval('public.consent_record_id_seq'::regclass);
ALTER TABLE ONLY public.delivery_participant ALTER COLUMN id SET DEFAULT nextval('public.delivery_participant_id_seq'::regclass);
ALTER TABLE ONLY public.delivery_tally ALTER COLUMN id SET DEFAULT nextval('public.delivery_tally_id_seq'::regclass);
ALTER TABLE ONLY public.duplicate_dismissal ALTER COLUMN id SET DEFAULT nextval('public.duplicate_dismissal_id_seq'::regclass);
ALTER TABLE ONLY public.eligibility_check ALTER COLUMN id SET DEFAULT nextval('public.eligibility_check_id_seq'::regclass);
ALTER TABLE ONLY public.employment_outcome ALTER COLUMN id SET DEFAULT nextval('public.employment_outcome_id_seq'::regclass);
ALTER TABLE ONLY public.event ALTER COLUMN id SET DEFAULT nextval('public.event_id_seq'::regclass);
ALTER TABLE ONLY public.event_invitation ALTER COLUMN id SET DEFAULT nextval('public.event_invitation_id_seq'::regclass);
ALTER TABLE ONLY public.event_session ALTER COLUMN id SET DEFAULT nextval('public.event_session_id_seq'::regclass);
ALTER TABLE ONLY public.export_job ALTER COLUMN id SET DEFAULT nextval('public.export_job_id_seq'::regclass);
ALTER TABLE ONLY public.flag ALTER COLUMN id SET DEFAULT nextval('public.flag_id_seq'::regclass);
ALTER TABLE ONLY public.flag_need_rule ALTER COLUMN id SET DEFAULT nextval('public.flag_need_rule_id_seq'::regclass);
ALTER TABLE ONLY public.growth_entry ALTER COLUMN id SET DEFAULT nextval('public.growth_entry_id_seq'::regclass);
ALTER TABLE ONLY public.household ALTER COLUMN id SET DEFAULT nextval('public.household_id_seq'::regclass);
ALTER TABLE ONLY public.household_change ALTER COLUMN id SET DEFAULT nextval('public.household_change_id_seq'::regclass);
ALTER TABLE ONLY public.household_merge ALTER COLUMN id SET DEFAULT nextval('public.household_merge_id_seq'::regclass);
ALTER TABLE ONLY public.inbound_reply ALTER COLUMN id SET DEFAULT nextval('public.inbound_reply_id_seq'::regclass);
ALTER TABLE ONLY public.intake_batch ALTER COLUMN id SET DEFAULT nextval('public.intake_batch_id_seq'::regclass);
ALTER TABLE ONLY public.intake_batch_region ALTER COLUMN id SET DEFAULT nextval('public.intake_batch_region_id_seq'::regclass);
ALTER TABLE ONLY public.intake_conflict ALTER COLUMN id SET DEFAULT nextval('public.intake_conflict_id_seq'::regclass);
ALTER TABLE ONLY public.intake_record ALTER COLUMN id SET DEFAULT nextval('public.intake_record_id_seq'::regclass);
ALTER TABLE ONLY public.intake_rejected_row ALTER COLUMN id SET DEFAULT nextval('public.intake_rejected_row_id_seq'::regclass);
ALTER TABLE ONLY public.intake_signature ALTER COLUMN id SET DEFAULT nextval('public.intake_signature_id_seq'::regclass);
ALTER TABLE ONLY public.intake_source ALTER COLUMN id SET DEFAULT nextval('public.intake_source_id_seq'::regclass);
ALTER TABLE ONLY public.job_outbox ALTER COLUMN id SET DEFAULT nextval('public.job_outbox_id_seq'::regclass);
ALTER TABLE ONLY public.login_attempt ALTER COLUMN id SET DEFAULT nextval('public.login_attempt_id_seq'::regclass);
ALTER TABLE ONLY public.needs_assessment ALTER COLUMN id SET DEFAULT nextval('public.needs_assessment_id_seq'::regclass);
ALTER TABLE ONLY public.notification ALTER COLUMN id SET DEFAULT nextval('public.notification_id_seq'::regclass);
ALTER TABLE ONLY public.offering ALTER COLUMN id SET DEFAULT nextval('public.offering_id_seq'::regclass);
ALTER TABLE ONLY public.offering_month ALTER COLUMN id SET DEFAULT nextval('public.offering_month_id_seq'::regclass);
ALTER TABLE ONLY public.partner ALTER COLUMN id SET DEFAULT nextval('public.partner_id_seq'::regclass);
ALTER TABLE ONLY public.partner_token ALTER COLUMN id SET DEFAULT nextval('public.partner_token_id_seq'::regclass);
ALTER TABLE ONLY public.password_reset ALTER COLUMN id SET DEFAULT nextval('public.password_reset_id_seq'::regclass);
ALTER TABLE ONLY public.project ALTER COLUMN id SET DEFAULT nextval('public.project_id_seq'::regclass);
ALTER TABLE ONLY public.project_partner ALTER COLUMN id SET DEFAULT nextval('public.project_partner_id_seq'::regclass);
ALTER TABLE ONLY public.promise_snapshot ALTER COLUMN id SET DEFAULT nextval('public.promise_snapshot_id_seq'::regclass);
ALTER TABLE ONLY public.proposal_item ALTER COLUMN id SET DEFAULT nextval('public.proposal_item_id_seq'::regclass);
ALTER TABLE ONLY public.referral ALTER COLUMN id SET DEFAULT nextval('public.referral_id_seq'::regclass);
ALTER TABLE ONLY public.registration ALTER COLUMN id SET DEFAULT nextval('public.registration_id_seq'::regclass);
ALTER TABLE ONLY public.regular_due ALTER COLUMN id SET DEFAULT nextval('public.regular_due_id_seq'::regclass);
ALTER TABLE ONLY public.regular_risk ALTER COLUMN id SET DEFAULT nextval('public.regular_risk_id_seq'::regclass);
ALTER TABLE ONLY public.regular_visit ALTER COLUMN id SET DEFAULT nextval('public.regular_visit_id_seq'::regclass);
ALTER TABLE ONLY public.request_match ALTER COLUMN id SET DEFAULT nextval('public.request_match_id_seq'::regclass);
ALTER TABLE ONLY public.request_transition ALTER COLUMN id SET DEFAULT nextval('public.request_transition_id_seq'::regclass);
ALTER TABLE ONLY public.response_promise ALTER COLUMN id SET DEFAULT nextval('public.response_promise_id_seq'::regclass);
ALTER TABLE ONLY public.risk_check ALTER COLUMN id SET DEFAULT nextval('public.risk_check_id_seq'::regclass);
ALTER TABLE ONLY public.service_record ALTER COLUMN id SET DEFAULT nextval('public.service_record_id_seq'::regclass);
ALTER TABLE ONLY public.service_request ALTER COLUMN id SET DEFAULT nextval('public.service_request_id_seq'::regclass);
ALTER TABLE ONLY public.staff_invitation ALTER COLUMN id SET DEFAULT nextval('public.staff_invitation_id_seq'::regclass);
ALTER TABLE ONLY public.supervision_snapshot ALTER COLUMN id SET DEFAULT nextval('public.supervision_snapshot_id_seq'::regclass);
ALTER TABLE ONLY public.target ALTER COLUMN id SET DEFAULT nextval('public.target_id_seq'::regclass);
ALTER TABLE ONLY public.target_change ALTER COLUMN id SET DEFAULT nextval('public.target_change_id_seq'::regclass);
ALTER TABLE ONLY public.task ALTER COLUMN id SET DEFAULT nextval('public.task_id_seq'::regclass);
ALTER TABLE ONLY public.tortoise_migrations ALTER COLUMN id SET DEFAULT nextval('public.tortoise_migrations_id_seq'::regclass);
ALTER TABLE ONLY public.transfer_request ALTER COLUMN id SET DEFAULT nextval('public.transfer_request_id_seq'::regclass);
ALTER TABLE ONLY public.user_session ALTER COLUMN id SET DEFAULT nextval('public.user_session_id_seq'::regclass);
ALTER TABLE ONLY public.visit ALTER COLUMN id SET DEFAULT nextval('public.visit_id_seq'::regclass);
ALTER TABLE ONLY public.visit_rhythm ALTER COLUMN id SET DEFAULT nextval('public.visit_rhythm_id_seq'::regclass);
ALTER TABLE ONLY public.volunteer ALTER COLUMN id SET DEFAULT nextval('public.volunteer_id_seq'::regclass);
ALTER TABLE ONLY public.volunteer_booking ALTER COLUMN id SET DEFAULT nextval('public.volunteer_booking_id_seq'::regclass);
ALTER TABLE ONLY public.volunteer_signup_link ALTER COLUMN id SET DEFAULT nextval('public.volunteer_signup_link_id_seq'::regclass);
ALTER TABLE ONLY public.volunteer_time_off ALTER COLUMN id SET DEFAULT nextval('public.volunteer_time_off_id_seq'::regclass);
ALTER TABLE ONLY public.webhook_delivery ALTER COLUMN id SET DEFAULT nextval('public.webhook_delivery_id_seq'::regclass);
ALTER TABLE ONLY public.webhook_endpoint ALTER COLUMN id SET DEFAULT nextval('public.webhook_endpoint_id_seq'::regclass);
INSERT INTO public.tortoise_migrations VALUES (1, 'models', '0001_initial', '2026-12-05 17:27:57.609781+00');
INSERT INTO public.tortoise_migrations VALUES (2, 'models', '0002_intake', '2026-12-05 17:27:57.899311+00');
INSERT INTO public.tortoise_migrations VALUES (3, 'models', '0003_matching', '2026-12-05 17:27:58.437366+00');
INSERT INTO public.tortoise_migrations VALUES (4, 'models', '0004_intake_phone_address', '2026-12-05 17:27:58.530905+00');
INSERT INTO public.tortoise_migrations VALUES (5, 'models', '0005_scheduling', '2026-12-05 17:27:59.067536+00');
INSERT INTO public.tortoise_migrations VALUES (6, 'models', '0006_check_in', '2026-12-05 17:27:59.869886+00');
INSERT INTO public.tortoise_migrations VALUES (7, 'models', '0007_tallies', '2026-12-05 17:27:59.99446+00');
INSERT INTO public.tortoise_migrations VALUES (8, 'models', '0008_events', '2026-12-05 17:28:01.102679+00');
INSERT INTO public.tortoise_migrations VALUES (9, 'models', '0009_lookup_indexes', '2026-12-05 17:28:01.238243+00');
INSERT INTO public.tortoise_migrations VALUES (10, 'models', '0010_board_index', '2026-12-05 17:28:01.677487+00');
INSERT INTO public.tortoise_migrations VALUES (11, 'models', '0011_phone_address_index', '2026-12-05 17:28:01.76474+00');
INSERT INTO public.tortoise_migrations VALUES (12, 'models', '0012_allocation_job', '2026-12-05 17:28:02.151834+00');
INSERT INTO public.tortoise_migrations VALUES (13, 'models', '0013_lifecycle', '2026-12-05 17:28:02.185381+00');
INSERT INTO public.tortoise_migrations VALUES (14, 'models', '0014_privacy', '2026-12-05 17:28:02.695384+00');
INSERT INTO public.tortoise_migrations VALUES (15, 'models', '0015_sessions', '2026-12-05 17:28:02.932533+00');
INSERT INTO public.tortoise_migrations VALUES (16, 'models', '0016_delivery', '2026-12-05 17:28:03.163462+00');
INSERT INTO public.tortoise_migrations VALUES (17, 'models', '0017_audit', '2026-12-05 17:28:04.135759+00');
INSERT INTO public.tortoise_migrations VALUES (18, 'models', '0018_hardening', '2026-12-05 17:28:04.416297+00');
INSERT INTO public.tortoise_migrations VALUES (19, 'models', '0019_board_changes', '2026-12-05 17:28:04.522395+00');
INSERT INTO public.tortoise_migrations VALUES (20, 'models', '0020_projects', '2026-12-05 17:28:04.81492+00');
INSERT INTO public.tortoise_migrations VALUES (21, 'models', '0021_webhooks', '2026-12-05 17:28:04.96013+00');
INSERT INTO public.tortoise_migrations VALUES (22, 'models', '0022_onboard', '2026-12-05 17:28:05.76156+00');
INSERT INTO public.tortoise_migrations VALUES (23, 'models', '0023_inbox', '2026-12-05 17:28:06.973295+00');
INSERT INTO public.tortoise_migrations VALUES (24, 'models', '0024_encryption', '2026-12-05 17:28:07.782557+00');
INSERT INTO public.tortoise_migrations VALUES (25, 'models', '0025_exports', '2026-12-05 17:28:07.90225+00');
INSERT INTO public.tortoise_migrations VALUES (26, 'models', '0026_volunteers', '2026-12-05 17:28:08.440287+00');
INSERT INTO public.tortoise_migrations VALUES (27, 'models', '0027_casework', '2026-12-05 17:28:08.943729+00');
INSERT INTO public.tortoise_migrations VALUES (28, 'models', '0028_regular', '2026-12-05 17:28:09.443817+00');
INSERT INTO public.tortoise_migrations VALUES (29, 'models', '0029_region_settings', '2026-12-05 17:28:09.637343+00');
INSERT INTO public.tortoise_migrations VALUES (30, 'models', '0030_eligibility', '2026-12-05 17:28:09.770613+00');
INSERT INTO public.tortoise_migrations VALUES (31, 'models', '0031_promises', '2026-12-05 17:28:10.029495+00');
INSERT INTO public.tortoise_migrations VALUES (32, 'models', '0032_supervision', '2026-12-05 17:28:10.164166+00');
INSERT INTO public.tortoise_migrations VALUES (33, 'models', '0033_calendar_days', '2026-12-05 17:28:10.291957+00');
INSERT INTO public.tortoise_migrations VALUES (34, 'models', '0034_cockpit_snapshot', '2026-12-05 17:28:10.332668+00');
INSERT INTO public.tortoise_migrations VALUES (35, 'models', '0036_reminder_batches', '2026-12-05 17:28:10.500436+00');
INSERT INTO public.tortoise_migrations VALUES (36, 'models', '0038_audit_partitions', '2026-12-05 17:28:10.659646+00');
INSERT INTO public.tortoise_migrations VALUES (37, 'models', '0040_active_request_indexes', '2026-12-05 17:28:10.6896+00');
INSERT INTO public.tortoise_migrations VALUES (38, 'models', '0042_notification_partitions', '2026-12-05 17:28:10.849685+00');
INSERT INTO public.tortoise_migrations VALUES (39, 'models', '0043_promise_snapshot', '2026-12-05 17:28:10.957219+00');
INSERT INTO public.tortoise_migrations VALUES (40, 'models', '0044_match_reasons_as_json', '2026-12-05 17:28:11.110968+00');
INSERT INTO public.tortoise_migrations VALUES (41, 'models', '0045_match_without_offering_index', '2026-12-05 17:28:11.258079+00');
INSERT INTO public.tortoise_migrations VALUES (42, 'models', '0046_match_reasons_as_text', '2026-12-05 17:28:11.414854+00');
INSERT INTO public.tortoise_migrations VALUES (43, 'models', '0047_match_reasons_short_form', '2026-12-05 17:28:11.556117+00');
SELECT pg_catalog.setval('public.allocation_proposal_id_seq', 1, false);
SELECT pg_catalog.setval('public.app_user_id_seq', 1, false);
SELECT pg_catalog.setval('public.attendance_id_seq', 1, false);
SELECT pg_catalog.setval('public.audit_archive_id_seq', 1, false);
SELECT pg_catalog.setval('public.audit_chain_head_id_seq', 1, false);
SELECT pg_catalog.setval('public.audit_entry_id_seq', 1, false);
SELECT pg_catalog.setval('public.audit_household_id_seq', 1, false);
SELECT pg_catalog.setval('public.board_change_id_seq', 1, false);
SELECT pg_catalog.setval('public.calendar_day_id_seq', 1, false);
SELECT pg_catalog.setval('public.case_note_id_seq', 1, false);
SELECT pg_catalog.setval('public.check_in_id_seq', 1, false);
SELECT pg_catalog.setval('public.cockpit_snapshot_id_seq', 1, false);
SELECT pg_catalog.setval('public.consent_record_id_seq', 1, false);
SELECT pg_catalog.setval('public.delivery_participant_id_seq', 1, false);
SELECT pg_catalog.setval('public.delivery_tally_id_seq', 1, false);
SELECT pg_catalog.setval('public.duplicate_dismissal_id_seq', 1, false);
SELECT pg_catalog.setval('public.eligibility_check_id_seq', 1, false);
SELECT pg_catalog.setval('public.employment_outcome_id_seq', 1, false);
SELECT pg_catalog.setval('public.event_id_seq', 1, false);
SELECT pg_catalog.setval('public.event_invitation_id_seq', 1, false);
SELECT pg_catalog.setval('public.event_session_id_seq', 1, false);
SELECT pg_catalog.setval('public.export_job_id_seq', 1, false);
SELECT pg_catalog.setval('public.flag_id_seq', 1, false);
SELECT pg_catalog.setval('public.flag_need_rule_id_seq', 1, false);
SELECT pg_catalog.setval('public.growth_entry_id_seq', 1, false);
SELECT pg_catalog.setval('public.household_change_id_seq', 1, false);
SELECT pg_catalog.setval('public.household_id_seq', 1, false);
SELECT pg_catalog.setval('public.household_merge_id_seq', 1, false);
SELECT pg_catalog.setval('public.inbound_reply_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_batch_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_batch_region_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_conflict_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_record_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_rejected_row_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_signature_id_seq', 1, false);
SELECT pg_catalog.setval('public.intake_source_id_seq', 1, false);
SELECT pg_catalog.setval('public.job_outbox_id_seq', 1, false);
SELECT pg_catalog.setval('public.login_attempt_id_seq', 1, false);
SELECT pg_catalog.setval('public.needs_assessment_id_seq', 1, false);
SELECT pg_catalog.setval('public.notification_id_seq', 1, false);
SELECT pg_catalog.setval('public.offering_id_seq', 1, false);
SELECT pg_catalog.setval('public.offering_month_id_seq', 1, false);
SELECT pg_catalog.setval('public.partner_id_seq', 1, false);
SELECT pg_catalog.setval('public.partner_token_id_seq', 1, false);
SELECT pg_catalog.setval('public.password_reset_id_seq', 1, false);
SELECT pg_catalog.setval('public.project_id_seq', 1, false);
SELECT pg_catalog.setval('public.project_partner_id_seq', 1, false);
SELECT pg_catalog.setval('public.promise_snapshot_id_seq', 1, false);
SELECT pg_catalog.setval('public.proposal_item_id_seq', 1, false);
SELECT pg_catalog.setval('public.referral_id_seq', 1, false);
SELECT pg_catalog.setval('public.registration_id_seq', 1, false);
SELECT pg_catalog.setval('public.regular_due_id_seq', 1, false);
SELECT pg_catalog.setval('public.regular_risk_id_seq', 1, false);
SELECT pg_catalog.setval('public.regular_visit_id_seq', 1, false);
SELECT pg_catalog.setval('public.request_match_id_seq', 1, false);
SELECT pg_catalog.setval('public.request_transition_id_seq', 1, false);
SELECT pg_catalog.setval('public.response_promise_id_seq', 1, false);
SELECT pg_catalog.setval('public.risk_check_id_seq', 1, false);
SELECT pg_catalog.setval('public.service_record_id_seq', 1, false);
SELECT pg_catalog.setval('public.service_request_id_seq', 1, false);
SELECT pg_catalog.setval('public.staff_invitation_id_seq', 1, false);
SELECT pg_catalog.setval('public.supervision_snapshot_id_seq', 1, false);
SELECT pg_catalog.setval('public.target_change_id_seq', 1, false);
SELECT pg_catalog.setval('public.target_id_seq', 1, false);
SELECT pg_catalog.setval('public.task_id_seq', 1, false);
SELECT pg_catalog.setval('public.tortoise_migrations_id_seq', 43, true);
SELECT pg_catalog.setval('public.transfer_request_id_seq', 1, false);
SELECT pg_catalog.setval('public.user_session_id_seq', 1, false);
SELECT pg_catalog.setval('public.visit_id_seq', 1, false);
SELECT pg_catalog.setval('public.visit_rhythm_id_seq', 1, false);
SELECT pg_catalog.setval('public.volunteer_booking_id_seq', 1, false);
SELECT pg_catalog.setval('public.volunteer_id_seq', 1, false);
SELECT pg_catalog.setval('public.volunteer_signup_link_id_seq', 1, false);
SELECT pg_catalog.setval('public.volunteer_time_off_id_seq', 1, false);
SELECT pg_catalog.setval('public.webhook_delivery_id_seq', 1, false);
SELECT pg_catalog.setval('public.webhook_endpoint_id_seq', 1, false);
ALTER TABLE ONLY public.allocation_proposal
    ADD CONSTRAINT allocation_proposal_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_household_id_key UNIQUE (household_id);
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_username_key UNIQUE (username);
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_volunteer_id_key UNIQUE (volunteer_id);
ALTER TABLE ONLY public.attendance
    ADD CONSTRAINT attendance_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.audit_archive
    ADD CONSTRAINT audit_archive_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.audit_archive
    ADD CONSTRAINT audit_archive_year_key UNIQUE (year);
ALTER TABLE ONLY public.audit_chain_head
    ADD CONSTRAINT audit_chain_head_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.audit_entry
    ADD CONSTRAINT audit_entry_pkey PRIMARY KEY (id, at);
ALTER TABLE ONLY public.audit_entry_default
    ADD CONSTRAINT audit_entry_default_pkey PRIMARY KEY (id, at);
ALTER TABLE ONLY public.audit_household
    ADD CONSTRAINT audit_household_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.board_change
    ADD CONSTRAINT board_change_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.calendar_day
    ADD CONSTRAINT calendar_day_day_key UNIQUE (day);
ALTER TABLE ONLY public.calendar_day
    ADD CONSTRAINT calendar_day_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.case_note
    ADD CONSTRAINT case_note_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_client_key_key UNIQUE (client_key);
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.cockpit_snapshot
    ADD CONSTRAINT cockpit_snapshot_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.consent_record
    ADD CONSTRAINT consent_record_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.delivery_participant
    ADD CONSTRAINT delivery_participant_key_key UNIQUE (key);
ALTER TABLE ONLY public.delivery_participant
    ADD CONSTRAINT delivery_participant_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.delivery_tally
    ADD CONSTRAINT delivery_tally_key_key UNIQUE (key);
ALTER TABLE ONLY public.delivery_tally
    ADD CONSTRAINT delivery_tally_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.duplicate_dismissal
    ADD CONSTRAINT duplicate_dismissal_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.eligibility_check
    ADD CONSTRAINT eligibility_check_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.employment_outcome
    ADD CONSTRAINT employment_outcome_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.event_invitation
    ADD CONSTRAINT event_invitation_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.event
    ADD CONSTRAINT event_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.event_session
    ADD CONSTRAINT event_session_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.export_job
    ADD CONSTRAINT export_job_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.flag_need_rule
    ADD CONSTRAINT flag_need_rule_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.flag
    ADD CONSTRAINT flag_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.growth_entry
    ADD CONSTRAINT growth_entry_key_key UNIQUE (key);
ALTER TABLE ONLY public.growth_entry
    ADD CONSTRAINT growth_entry_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.household_change
    ADD CONSTRAINT household_change_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.household
    ADD CONSTRAINT household_external_id_key UNIQUE (external_id);
ALTER TABLE ONLY public.household_merge
    ADD CONSTRAINT household_merge_external_id_key UNIQUE (external_id);
ALTER TABLE ONLY public.household_merge
    ADD CONSTRAINT household_merge_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.household
    ADD CONSTRAINT household_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.inbound_reply
    ADD CONSTRAINT inbound_reply_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_batch
    ADD CONSTRAINT intake_batch_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_batch_region
    ADD CONSTRAINT intake_batch_region_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_conflict
    ADD CONSTRAINT intake_conflict_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_record
    ADD CONSTRAINT intake_record_household_id_key UNIQUE (household_id);
ALTER TABLE ONLY public.intake_record
    ADD CONSTRAINT intake_record_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_rejected_row
    ADD CONSTRAINT intake_rejected_row_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_signature
    ADD CONSTRAINT intake_signature_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.intake_signature
    ADD CONSTRAINT intake_signature_signature_key UNIQUE (signature);
ALTER TABLE ONLY public.intake_source
    ADD CONSTRAINT intake_source_name_key UNIQUE (name);
ALTER TABLE ONLY public.intake_source
    ADD CONSTRAINT intake_source_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.job_outbox
    ADD CONSTRAINT job_outbox_job_id_key UNIQUE (job_id);
ALTER TABLE ONLY public.job_outbox
    ADD CONSTRAINT job_outbox_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.login_attempt
    ADD CONSTRAINT login_attempt_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.login_throttle
    ADD CONSTRAINT login_throttle_pkey PRIMARY KEY (key);
ALTER TABLE ONLY public.need_category
    ADD CONSTRAINT need_category_pkey PRIMARY KEY (code);
ALTER TABLE ONLY public.needs_assessment
    ADD CONSTRAINT needs_assessment_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.notification
    ADD CONSTRAINT notification_pkey PRIMARY KEY (id, created_at);
ALTER TABLE ONLY public.notification_default
    ADD CONSTRAINT notification_default_pkey PRIMARY KEY (id, created_at);
ALTER TABLE ONLY public.notification_key
    ADD CONSTRAINT notification_key_pkey PRIMARY KEY (key);
ALTER TABLE ONLY public.offering_month
    ADD CONSTRAINT offering_month_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.offering
    ADD CONSTRAINT offering_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_credit_code_key UNIQUE (credit_code);
ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_name_key UNIQUE (name);
ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.partner_token
    ADD CONSTRAINT partner_token_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.partner_token
    ADD CONSTRAINT partner_token_token_hash_key UNIQUE (token_hash);
ALTER TABLE ONLY public.password_reset
    ADD CONSTRAINT password_reset_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.project_partner
    ADD CONSTRAINT project_partner_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.project
    ADD CONSTRAINT project_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.promise_snapshot
    ADD CONSTRAINT promise_snapshot_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.proposal_item
    ADD CONSTRAINT proposal_item_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.referral
    ADD CONSTRAINT referral_household_id_key UNIQUE (household_id);
ALTER TABLE ONLY public.referral
    ADD CONSTRAINT referral_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.region
    ADD CONSTRAINT region_pkey PRIMARY KEY (code);
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT registration_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.regular_due
    ADD CONSTRAINT regular_due_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT regular_risk_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.regular_visit
    ADD CONSTRAINT regular_visit_client_key_key UNIQUE (client_key);
ALTER TABLE ONLY public.regular_visit
    ADD CONSTRAINT regular_visit_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.request_match
    ADD CONSTRAINT request_match_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.request_transition
    ADD CONSTRAINT request_transition_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.response_promise
    ADD CONSTRAINT response_promise_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_client_key_key UNIQUE (client_key);
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_visit_id_key UNIQUE (visit_id);
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_active_key_key UNIQUE (active_key);
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.staff_invitation
    ADD CONSTRAINT staff_invitation_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.supervision_snapshot
    ADD CONSTRAINT supervision_snapshot_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.supervision_snapshot
    ADD CONSTRAINT supervision_snapshot_region_code_key UNIQUE (region_code);
ALTER TABLE ONLY public.target_change
    ADD CONSTRAINT target_change_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.target
    ADD CONSTRAINT target_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.task
    ADD CONSTRAINT task_open_key_key UNIQUE (open_key);
ALTER TABLE ONLY public.task
    ADD CONSTRAINT task_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.tortoise_migrations
    ADD CONSTRAINT tortoise_migrations_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.attendance
    ADD CONSTRAINT uid_attendance_session_a94c8b UNIQUE (session_id, registration_id);
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT uid_check_in_visit_i_5f8b80 UNIQUE (visit_id, volunteer_id);
ALTER TABLE ONLY public.cockpit_snapshot
    ADD CONSTRAINT uid_cockpit_sna_region__c7bda6 UNIQUE (region_code, year, days);
ALTER TABLE ONLY public.duplicate_dismissal
    ADD CONSTRAINT uid_duplicate_d_househo_ec742f UNIQUE (household_id, other_id);
ALTER TABLE ONLY public.event_invitation
    ADD CONSTRAINT uid_event_invit_event_i_16784d UNIQUE (event_id, household_id);
ALTER TABLE ONLY public.flag
    ADD CONSTRAINT uid_flag_househo_622966 UNIQUE (household_id, code);
ALTER TABLE ONLY public.flag_need_rule
    ADD CONSTRAINT uid_flag_need_r_flag_4833b1 UNIQUE (flag, need_id);
ALTER TABLE ONLY public.inbound_reply
    ADD CONSTRAINT uid_inbound_rep_gateway_9b7fcc UNIQUE (gateway_id, message_id);
ALTER TABLE ONLY public.offering_month
    ADD CONSTRAINT uid_offering_mo_offerin_ac8277 UNIQUE (offering_id, month);
ALTER TABLE ONLY public.project_partner
    ADD CONSTRAINT uid_project_par_project_97cc92 UNIQUE (project_id, partner_id);
ALTER TABLE ONLY public.project
    ADD CONSTRAINT uid_project_year_c398a1 UNIQUE (year, code);
ALTER TABLE ONLY public.promise_snapshot
    ADD CONSTRAINT uid_promise_sna_region__f5bd3e UNIQUE (region_code, year);
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT uid_registratio_event_i_31983f UNIQUE (event_id, household_id);
ALTER TABLE ONLY public.regular_due
    ADD CONSTRAINT uid_regular_due_worker__d7d523 UNIQUE (worker_id, household_id);
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT uid_regular_ris_visit_i_141f89 UNIQUE (visit_id, aspect);
ALTER TABLE ONLY public.request_match
    ADD CONSTRAINT uid_request_mat_request_3fc512 UNIQUE (request_id, offering_id);
ALTER TABLE ONLY public.response_promise
    ADD CONSTRAINT uid_response_pr_region__0922ff UNIQUE (region_id, need);
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT uid_risk_check_record__2136ae UNIQUE (record_id, aspect);
ALTER TABLE ONLY public.target
    ADD CONSTRAINT uid_target_year_e1dab8 UNIQUE (year, metric, scope_key);
ALTER TABLE ONLY public.tortoise_migrations
    ADD CONSTRAINT uid_tortoise_mi_app_3803a5 UNIQUE (app, name);
ALTER TABLE ONLY public.visit_rhythm
    ADD CONSTRAINT uid_visit_rhyth_region__931a06 UNIQUE (region_id, kind);
ALTER TABLE ONLY public.volunteer_booking
    ADD CONSTRAINT uid_volunteer_b_volunte_f50f8d UNIQUE (volunteer_id, visit_id);
ALTER TABLE ONLY public.user_session
    ADD CONSTRAINT user_session_key_hash_key UNIQUE (key_hash);
ALTER TABLE ONLY public.user_session
    ADD CONSTRAINT user_session_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.visit
    ADD CONSTRAINT visit_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.visit_rhythm
    ADD CONSTRAINT visit_rhythm_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.volunteer_booking
    ADD CONSTRAINT volunteer_booking_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.volunteer
    ADD CONSTRAINT volunteer_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.volunteer_signup_link
    ADD CONSTRAINT volunteer_signup_link_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.volunteer_time_off
    ADD CONSTRAINT volunteer_time_off_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_pkey PRIMARY KEY (id);
CREATE INDEX idx_audit_entry_action_996fc3 ON ONLY public.audit_entry USING btree (action, at);
CREATE INDEX audit_entry_default_action_at_idx ON public.audit_entry_default USING btree (action, at);
CREATE INDEX idx_audit_entry_actor_i_31083a ON ONLY public.audit_entry USING btree (actor_id, at);
CREATE INDEX audit_entry_default_actor_id_at_idx ON public.audit_entry_default USING btree (actor_id, at);
CREATE INDEX idx_audit_entry_at_c3f19e ON ONLY public.audit_entry USING btree (at);
CREATE INDEX audit_entry_default_at_idx ON public.audit_entry_default USING btree (at);
CREATE INDEX idx_audit_entry_househo_c6d125 ON ONLY public.audit_entry USING btree (household_id, at);
CREATE INDEX audit_entry_default_household_id_at_idx ON public.audit_entry_default USING btree (household_id, at);
CREATE INDEX idx_audit_entry_object__ec873f ON ONLY public.audit_entry USING btree (object_type, object_id);
CREATE INDEX audit_entry_default_object_type_object_id_idx ON public.audit_entry_default USING btree (object_type, object_id);
CREATE INDEX idx_audit_entry_region__b97f66 ON ONLY public.audit_entry USING btree (region_path, at);
CREATE INDEX audit_entry_default_region_path_at_idx ON public.audit_entry_default USING btree (region_path, at);
CREATE INDEX idx_audit_house_househo_42741a ON public.audit_household USING btree (household_id, entry_id);
CREATE INDEX idx_board_chang_at_5d5003 ON public.board_change USING btree (at);
CREATE INDEX idx_board_chang_partner_776d08 ON public.board_change USING btree (partner_id, id);
CREATE INDEX idx_case_note_househo_e1c640 ON public.case_note USING btree (household_id, created_at);
CREATE INDEX idx_consent_rec_househo_cd05ee ON public.consent_record USING btree (household_id, at);
CREATE INDEX idx_delivery_pa_year_b8f944 ON public.delivery_participant USING btree (year, kind, region_path);
CREATE INDEX idx_delivery_ta_year_b17fe8 ON public.delivery_tally USING btree (year, region_path);
CREATE INDEX idx_eligibility_househo_e9abd8 ON public.eligibility_check USING btree (household_id, at);
CREATE INDEX idx_eligibility_partner_b1406b ON public.eligibility_check USING btree (partner_id, at);
CREATE INDEX idx_employment__event_i_f57662 ON public.employment_outcome USING btree (event_id, kind);
CREATE INDEX idx_employment__househo_fcebb4 ON public.employment_outcome USING btree (household_id, kind);
CREATE INDEX idx_event_partner_2c697b ON public.event USING btree (partner_id, status);
CREATE INDEX idx_export_job_request_e01789 ON public.export_job USING btree (requested_by_id, id);
CREATE INDEX idx_flag_code_b73a58 ON public.flag USING btree (code, active);
CREATE INDEX idx_growth_entr_year_b04723 ON public.growth_entry USING btree (year, kind, region_path);
CREATE INDEX idx_household_c_househo_e05bd2 ON public.household_change USING btree (household_id, created_at);
CREATE INDEX idx_household_consent_fb7109 ON public.household USING btree (consent_status, consent_expires_at);
CREATE INDEX idx_household_head_na_61a39d ON public.household USING btree (head_name);
CREATE INDEX idx_household_id_number_index ON public.household USING btree (id_number_index);
CREATE INDEX idx_household_phone_index ON public.household USING btree (phone_index);
CREATE INDEX idx_household_region__1faa1b ON public.household USING btree (region_id, id);
CREATE INDEX idx_intake_batc_batch_i_3114ad ON public.intake_batch_region USING btree (batch_id, region_id);
CREATE INDEX idx_intake_batc_started_c59db1 ON public.intake_batch USING btree (started_at);
CREATE INDEX idx_intake_conf_status_3600c8 ON public.intake_conflict USING btree (status, created_at);
CREATE INDEX idx_intake_reco_geocode_75e28b ON public.intake_record USING btree (geocode_pending, last_batch_id);
CREATE INDEX idx_intake_reco_phone_a_76ed3e ON public.intake_record USING btree (phone_address);
CREATE INDEX idx_intake_reje_batch_i_f0f8c0 ON public.intake_rejected_row USING btree (batch_id, "row");
CREATE INDEX idx_intake_sign_at_b142e8 ON public.intake_signature USING btree (at);
CREATE INDEX idx_job_outbox_job_nam_f89991 ON public.job_outbox USING btree (job_name, status, defer_until);
CREATE INDEX idx_job_outbox_status_923412 ON public.job_outbox USING btree (status, created_at);
CREATE INDEX idx_login_attem_address_07a4d8 ON public.login_attempt USING btree (address, at);
CREATE INDEX idx_login_attem_usernam_f387b6 ON public.login_attempt USING btree (username, at);
CREATE INDEX idx_login_throt_touched_cfd482 ON public.login_throttle USING btree (touched_at);
CREATE INDEX idx_needs_asses_househo_ef1b60 ON public.needs_assessment USING btree (household_id, created_at);
CREATE INDEX idx_notificatio_created_085a7c ON public.notification_key USING btree (created_at);
CREATE INDEX idx_notificatio_dedupe_key ON ONLY public.notification USING btree (dedupe_key);
CREATE INDEX idx_notificatio_status_5b3cdf ON ONLY public.notification USING btree (status, created_at);
CREATE INDEX idx_notificatio_user_id_7b776a ON ONLY public.notification USING btree (user_id, channel, read_at);
CREATE INDEX idx_notificatio_user_id_f2b653 ON ONLY public.notification USING btree (user_id, created_at);
CREATE INDEX idx_offering_need_id_25468b ON public.offering USING btree (need_id, active);
CREATE INDEX idx_partner_status_34b86f ON public.partner USING btree (status);
CREATE INDEX idx_proposal_it_partner_906c38 ON public.proposal_item USING btree (partner_id, status);
CREATE INDEX idx_region_path_c456b3 ON public.region USING btree (path);
CREATE INDEX idx_registratio_confirm_253b72 ON public.registration USING btree (confirmed_at, confirm_by);
CREATE INDEX idx_regular_due_worker__ce4651 ON public.regular_due USING btree (worker_id, due_on);
CREATE INDEX idx_regular_ris_househo_f257c4 ON public.regular_risk USING btree (household_id, aspect, resolved_at);
CREATE INDEX idx_regular_vis_househo_771cba ON public.regular_visit USING btree (household_id, checked_out_at);
CREATE INDEX idx_request_mat_partner_29b6be ON public.request_match USING btree (partner_id, partner_best, score, request_id);
CREATE INDEX idx_request_tra_partner_777167 ON public.request_transition USING btree (partner_id, at);
CREATE INDEX idx_request_tra_request_c1224b ON public.request_transition USING btree (request_id, at);
CREATE INDEX idx_risk_check_househo_9cd4ba ON public.risk_check USING btree (household_id, aspect, resolved_at);
CREATE INDEX idx_service_rec_complet_26e406 ON public.service_record USING btree (completed_at);
CREATE INDEX idx_service_req_claimed_7dbd25 ON public.service_request USING btree (claimed_by_id, status);
CREATE INDEX idx_service_req_househo_9bd39e ON public.service_request USING btree (household_id, status);
CREATE INDEX idx_service_req_status_c0c56d ON public.service_request USING btree (status, need_id);
CREATE INDEX idx_task_kind_58e8bb ON public.task USING btree (kind, subject_type, subject_id);
CREATE INDEX idx_task_owner_i_1ea611 ON public.task USING btree (owner_id, state, due_at);
CREATE INDEX idx_task_state_0ffcd2 ON public.task USING btree (state, due_at);
CREATE INDEX idx_transfer_re_status_dadce0 ON public.transfer_request USING btree (status, due_at);
CREATE INDEX idx_user_sessio_user_id_167dd3 ON public.user_session USING btree (user_id, ended_at);
CREATE INDEX idx_visit_partner_b7ef31 ON public.visit USING btree (partner_id, window_start);
CREATE INDEX idx_visit_request_603a50 ON public.visit USING btree (request_id, status);
CREATE INDEX idx_visit_status_8ec4af ON public.visit USING btree (status, window_start);
CREATE INDEX idx_volunteer_b_volunte_a2a633 ON public.volunteer_booking USING btree (volunteer_id, window_start);
CREATE INDEX idx_volunteer_t_volunte_a4810b ON public.volunteer_time_off USING btree (volunteer_id, last_day);
CREATE INDEX idx_webhook_del_endpoin_62c3f9 ON public.webhook_delivery USING btree (endpoint_id, id);
CREATE INDEX idx_webhook_del_state_70521b ON public.webhook_delivery USING btree (state, next_attempt_at);
CREATE INDEX notification_default_dedupe_key_idx ON public.notification_default USING btree (dedupe_key);
CREATE INDEX notification_default_status_created_at_idx ON public.notification_default USING btree (status, created_at);
CREATE INDEX notification_default_user_id_channel_read_at_idx ON public.notification_default USING btree (user_id, channel, read_at);
CREATE INDEX notification_default_user_id_created_at_idx ON public.notification_default USING btree (user_id, created_at);
CREATE INDEX service_request_waiting_age ON public.service_request USING btree (created_at, id) WHERE ((status)::text = ANY (ARRAY['claimed'::text, 'in_service'::text, 'open'::text, 'scheduled'::text]));
CREATE INDEX service_request_waiting_id ON public.service_request USING btree (id) WHERE ((status)::text = ANY (ARRAY['claimed'::text, 'in_service'::text, 'open'::text, 'scheduled'::text]));
CREATE UNIQUE INDEX uidx_offering_re_offerin_ed9342 ON public.offering_region USING btree (offering_id, region_id);
CREATE UNIQUE INDEX uidx_partner_ser_partner_199c48 ON public.partner_service_region USING btree (partner_id, region_id);
CREATE UNIQUE INDEX uidx_volunteer_p_volunte_5e2d07 ON public.volunteer_partner USING btree (volunteer_id, partner_id);
ALTER INDEX public.idx_audit_entry_action_996fc3 ATTACH PARTITION public.audit_entry_default_action_at_idx;
ALTER INDEX public.idx_audit_entry_actor_i_31083a ATTACH PARTITION public.audit_entry_default_actor_id_at_idx;
ALTER INDEX public.idx_audit_entry_at_c3f19e ATTACH PARTITION public.audit_entry_default_at_idx;
ALTER INDEX public.idx_audit_entry_househo_c6d125 ATTACH PARTITION public.audit_entry_default_household_id_at_idx;
ALTER INDEX public.idx_audit_entry_object__ec873f ATTACH PARTITION public.audit_entry_default_object_type_object_id_idx;
ALTER INDEX public.audit_entry_pkey ATTACH PARTITION public.audit_entry_default_pkey;
ALTER INDEX public.idx_audit_entry_region__b97f66 ATTACH PARTITION public.audit_entry_default_region_path_at_idx;
ALTER INDEX public.idx_notificatio_dedupe_key ATTACH PARTITION public.notification_default_dedupe_key_idx;
ALTER INDEX public.notification_pkey ATTACH PARTITION public.notification_default_pkey;
ALTER INDEX public.idx_notificatio_status_5b3cdf ATTACH PARTITION public.notification_default_status_created_at_idx;
ALTER INDEX public.idx_notificatio_user_id_7b776a ATTACH PARTITION public.notification_default_user_id_channel_read_at_idx;
ALTER INDEX public.idx_notificatio_user_id_f2b653 ATTACH PARTITION public.notification_default_user_id_created_at_idx;
CREATE TRIGGER audit_entry_append_only BEFORE DELETE OR UPDATE ON public.audit_entry FOR EACH ROW EXECUTE FUNCTION public.alliance_audit_append_only();
CREATE TRIGGER audit_entry_default_no_truncate BEFORE TRUNCATE ON public.audit_entry_default FOR EACH STATEMENT EXECUTE FUNCTION public.alliance_audit_append_only();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON public.audit_entry FOR EACH STATEMENT EXECUTE FUNCTION public.alliance_audit_append_only();
CREATE TRIGGER audit_household_append_only BEFORE DELETE OR UPDATE ON public.audit_household FOR EACH ROW EXECUTE FUNCTION public.alliance_audit_append_only();
CREATE TRIGGER audit_household_no_truncate BEFORE TRUNCATE ON public.audit_household FOR EACH STATEMENT EXECUTE FUNCTION public.alliance_audit_append_only();
ALTER TABLE ONLY public.allocation_proposal
    ADD CONSTRAINT allocation_proposal_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.allocation_proposal
    ADD CONSTRAINT allocation_proposal_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.app_user
    ADD CONSTRAINT app_user_volunteer_id_fkey FOREIGN KEY (volunteer_id) REFERENCES public.volunteer(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.attendance
    ADD CONSTRAINT attendance_recorded_by_id_fkey FOREIGN KEY (recorded_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.attendance
    ADD CONSTRAINT attendance_registration_id_fkey FOREIGN KEY (registration_id) REFERENCES public.registration(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.attendance
    ADD CONSTRAINT attendance_session_id_fkey FOREIGN KEY (session_id) REFERENCES public.event_session(id) ON DELETE CASCADE;
ALTER TABLE public.audit_entry
    ADD CONSTRAINT audit_entry_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.calendar_day
    ADD CONSTRAINT calendar_day_updated_by_id_fkey FOREIGN KEY (updated_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.case_note
    ADD CONSTRAINT case_note_author_id_fkey FOREIGN KEY (author_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.case_note
    ADD CONSTRAINT case_note_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_recorded_by_id_fkey FOREIGN KEY (recorded_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_reviewed_by_id_fkey FOREIGN KEY (reviewed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visit(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.check_in
    ADD CONSTRAINT check_in_volunteer_id_fkey FOREIGN KEY (volunteer_id) REFERENCES public.volunteer(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.consent_record
    ADD CONSTRAINT consent_record_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.consent_record
    ADD CONSTRAINT consent_record_recorded_by_id_fkey FOREIGN KEY (recorded_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.delivery_participant
    ADD CONSTRAINT delivery_participant_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.delivery_tally
    ADD CONSTRAINT delivery_tally_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.delivery_tally
    ADD CONSTRAINT delivery_tally_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.delivery_tally
    ADD CONSTRAINT delivery_tally_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.duplicate_dismissal
    ADD CONSTRAINT duplicate_dismissal_dismissed_by_id_fkey FOREIGN KEY (dismissed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.duplicate_dismissal
    ADD CONSTRAINT duplicate_dismissal_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.duplicate_dismissal
    ADD CONSTRAINT duplicate_dismissal_other_id_fkey FOREIGN KEY (other_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.eligibility_check
    ADD CONSTRAINT eligibility_check_checked_by_id_fkey FOREIGN KEY (checked_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.eligibility_check
    ADD CONSTRAINT eligibility_check_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.eligibility_check
    ADD CONSTRAINT eligibility_check_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.eligibility_check
    ADD CONSTRAINT eligibility_check_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.employment_outcome
    ADD CONSTRAINT employment_outcome_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.event(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.employment_outcome
    ADD CONSTRAINT employment_outcome_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.employment_outcome
    ADD CONSTRAINT employment_outcome_recorded_by_id_fkey FOREIGN KEY (recorded_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.employment_outcome
    ADD CONSTRAINT employment_outcome_registration_id_fkey FOREIGN KEY (registration_id) REFERENCES public.registration(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.event
    ADD CONSTRAINT event_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.event_invitation
    ADD CONSTRAINT event_invitation_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.event(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.event_invitation
    ADD CONSTRAINT event_invitation_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.event_invitation
    ADD CONSTRAINT event_invitation_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.event
    ADD CONSTRAINT event_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE RESTRICT;
ALTER TABLE ONLY public.event
    ADD CONSTRAINT event_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.event
    ADD CONSTRAINT event_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.event_session
    ADD CONSTRAINT event_session_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.event(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.export_job
    ADD CONSTRAINT export_job_requested_by_id_fkey FOREIGN KEY (requested_by_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.flag
    ADD CONSTRAINT flag_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.flag_need_rule
    ADD CONSTRAINT flag_need_rule_need_id_fkey FOREIGN KEY (need_id) REFERENCES public.need_category(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.growth_entry
    ADD CONSTRAINT growth_entry_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.growth_entry
    ADD CONSTRAINT growth_entry_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.household_change
    ADD CONSTRAINT household_change_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.household_change
    ADD CONSTRAINT household_change_reported_by_id_fkey FOREIGN KEY (reported_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.household_change
    ADD CONSTRAINT household_change_verified_by_id_fkey FOREIGN KEY (verified_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.household_merge
    ADD CONSTRAINT household_merge_kept_id_fkey FOREIGN KEY (kept_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.household_merge
    ADD CONSTRAINT household_merge_merged_by_id_fkey FOREIGN KEY (merged_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.household
    ADD CONSTRAINT household_possible_duplicate_of_id_fkey FOREIGN KEY (possible_duplicate_of_id) REFERENCES public.household(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.household
    ADD CONSTRAINT household_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.inbound_reply
    ADD CONSTRAINT inbound_reply_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.intake_source(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.inbound_reply
    ADD CONSTRAINT inbound_reply_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.inbound_reply
    ADD CONSTRAINT inbound_reply_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visit(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_batch_region
    ADD CONSTRAINT intake_batch_region_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.intake_batch(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_batch_region
    ADD CONSTRAINT intake_batch_region_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.intake_batch
    ADD CONSTRAINT intake_batch_source_id_fkey FOREIGN KEY (source_id) REFERENCES public.intake_source(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_conflict
    ADD CONSTRAINT intake_conflict_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.intake_batch(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_conflict
    ADD CONSTRAINT intake_conflict_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_conflict
    ADD CONSTRAINT intake_conflict_resolved_by_id_fkey FOREIGN KEY (resolved_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_conflict
    ADD CONSTRAINT intake_conflict_source_id_fkey FOREIGN KEY (source_id) REFERENCES public.intake_source(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_record
    ADD CONSTRAINT intake_record_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_record
    ADD CONSTRAINT intake_record_last_batch_id_fkey FOREIGN KEY (last_batch_id) REFERENCES public.intake_batch(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_record
    ADD CONSTRAINT intake_record_source_id_fkey FOREIGN KEY (source_id) REFERENCES public.intake_source(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.intake_rejected_row
    ADD CONSTRAINT intake_rejected_row_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.intake_batch(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_rejected_row
    ADD CONSTRAINT intake_rejected_row_slice_id_fkey FOREIGN KEY (slice_id) REFERENCES public.intake_batch_region(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.intake_signature
    ADD CONSTRAINT intake_signature_source_id_fkey FOREIGN KEY (source_id) REFERENCES public.intake_source(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.needs_assessment
    ADD CONSTRAINT needs_assessment_assessed_by_id_fkey FOREIGN KEY (assessed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.needs_assessment
    ADD CONSTRAINT needs_assessment_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.needs_assessment
    ADD CONSTRAINT needs_assessment_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE SET NULL;
ALTER TABLE public.notification
    ADD CONSTRAINT notification_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE public.notification
    ADD CONSTRAINT notification_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE public.notification
    ADD CONSTRAINT notification_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visit(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.offering_month
    ADD CONSTRAINT offering_month_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.offering
    ADD CONSTRAINT offering_need_id_fkey FOREIGN KEY (need_id) REFERENCES public.need_category(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.offering
    ADD CONSTRAINT offering_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.offering
    ADD CONSTRAINT offering_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.offering_region
    ADD CONSTRAINT offering_region_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.offering_region
    ADD CONSTRAINT offering_region_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.partner_service_region
    ADD CONSTRAINT partner_service_region_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.partner_service_region
    ADD CONSTRAINT partner_service_region_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.partner_token
    ADD CONSTRAINT partner_token_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.partner_token
    ADD CONSTRAINT partner_token_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.password_reset
    ADD CONSTRAINT password_reset_issued_by_id_fkey FOREIGN KEY (issued_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.password_reset
    ADD CONSTRAINT password_reset_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.project_partner
    ADD CONSTRAINT project_partner_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.project_partner
    ADD CONSTRAINT project_partner_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.proposal_item
    ADD CONSTRAINT proposal_item_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.proposal_item
    ADD CONSTRAINT proposal_item_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.proposal_item
    ADD CONSTRAINT proposal_item_proposal_id_fkey FOREIGN KEY (proposal_id) REFERENCES public.allocation_proposal(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.proposal_item
    ADD CONSTRAINT proposal_item_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.referral
    ADD CONSTRAINT referral_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.referral
    ADD CONSTRAINT referral_registered_by_id_fkey FOREIGN KEY (registered_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.region
    ADD CONSTRAINT region_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT registration_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.event(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT registration_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT registration_registered_by_id_fkey FOREIGN KEY (registered_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.registration
    ADD CONSTRAINT registration_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.regular_due
    ADD CONSTRAINT regular_due_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.regular_due
    ADD CONSTRAINT regular_due_worker_id_fkey FOREIGN KEY (worker_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT regular_risk_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT regular_risk_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT regular_risk_resolved_by_id_fkey FOREIGN KEY (resolved_by_id) REFERENCES public.regular_visit(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.regular_risk
    ADD CONSTRAINT regular_risk_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.regular_visit(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.regular_visit
    ADD CONSTRAINT regular_visit_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.regular_visit
    ADD CONSTRAINT regular_visit_worker_id_fkey FOREIGN KEY (worker_id) REFERENCES public.app_user(id) ON DELETE RESTRICT;
ALTER TABLE ONLY public.request_transition
    ADD CONSTRAINT request_transition_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.request_transition
    ADD CONSTRAINT request_transition_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.request_transition
    ADD CONSTRAINT request_transition_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.response_promise
    ADD CONSTRAINT response_promise_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.response_promise
    ADD CONSTRAINT response_promise_updated_by_id_fkey FOREIGN KEY (updated_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_follow_up_request_id_fkey FOREIGN KEY (follow_up_request_id) REFERENCES public.service_request(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_follow_up_visit_id_fkey FOREIGN KEY (follow_up_visit_id) REFERENCES public.visit(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_record_id_fkey FOREIGN KEY (record_id) REFERENCES public.service_record(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.risk_check
    ADD CONSTRAINT risk_check_resolved_by_id_fkey FOREIGN KEY (resolved_by_id) REFERENCES public.risk_check(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_confirmed_by_id_fkey FOREIGN KEY (confirmed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_recorded_by_id_fkey FOREIGN KEY (recorded_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.service_record
    ADD CONSTRAINT service_record_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visit(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_claimed_by_id_fkey FOREIGN KEY (claimed_by_id) REFERENCES public.partner(id) ON DELETE RESTRICT;
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_household_id_fkey FOREIGN KEY (household_id) REFERENCES public.household(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_need_id_fkey FOREIGN KEY (need_id) REFERENCES public.need_category(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.service_request
    ADD CONSTRAINT service_request_offering_id_fkey FOREIGN KEY (offering_id) REFERENCES public.offering(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.staff_invitation
    ADD CONSTRAINT staff_invitation_invited_by_id_fkey FOREIGN KEY (invited_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.staff_invitation
    ADD CONSTRAINT staff_invitation_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.staff_invitation
    ADD CONSTRAINT staff_invitation_reset_id_fkey FOREIGN KEY (reset_id) REFERENCES public.password_reset(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.staff_invitation
    ADD CONSTRAINT staff_invitation_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.target_change
    ADD CONSTRAINT target_change_changed_by_id_fkey FOREIGN KEY (changed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.target_change
    ADD CONSTRAINT target_change_target_id_fkey FOREIGN KEY (target_id) REFERENCES public.target(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.target
    ADD CONSTRAINT target_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.target
    ADD CONSTRAINT target_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.task
    ADD CONSTRAINT task_closed_by_id_fkey FOREIGN KEY (closed_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.task
    ADD CONSTRAINT task_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_decided_by_id_fkey FOREIGN KEY (decided_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_from_partner_id_fkey FOREIGN KEY (from_partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_requested_by_id_fkey FOREIGN KEY (requested_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_to_offering_id_fkey FOREIGN KEY (to_offering_id) REFERENCES public.offering(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.transfer_request
    ADD CONSTRAINT transfer_request_to_partner_id_fkey FOREIGN KEY (to_partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.user_session
    ADD CONSTRAINT user_session_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.app_user(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.visit
    ADD CONSTRAINT visit_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.visit
    ADD CONSTRAINT visit_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE RESTRICT;
ALTER TABLE ONLY public.visit
    ADD CONSTRAINT visit_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.service_request(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.visit_rhythm
    ADD CONSTRAINT visit_rhythm_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE CASCADE;
ALTER TABLE ONLY public.visit_rhythm
    ADD CONSTRAINT visit_rhythm_updated_by_id_fkey FOREIGN KEY (updated_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.volunteer_booking
    ADD CONSTRAINT volunteer_booking_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visit(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.volunteer_booking
    ADD CONSTRAINT volunteer_booking_volunteer_id_fkey FOREIGN KEY (volunteer_id) REFERENCES public.volunteer(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.volunteer_partner
    ADD CONSTRAINT volunteer_partner_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.volunteer_partner
    ADD CONSTRAINT volunteer_partner_volunteer_id_fkey FOREIGN KEY (volunteer_id) REFERENCES public.volunteer(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.volunteer
    ADD CONSTRAINT volunteer_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.region(code) ON DELETE RESTRICT;
ALTER TABLE ONLY public.volunteer_signup_link
    ADD CONSTRAINT volunteer_signup_link_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.volunteer_signup_link
    ADD CONSTRAINT volunteer_signup_link_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.volunteer_time_off
    ADD CONSTRAINT volunteer_time_off_volunteer_id_fkey FOREIGN KEY (volunteer_id) REFERENCES public.volunteer(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoint(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES public.app_user(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;

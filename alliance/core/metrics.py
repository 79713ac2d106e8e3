"""Prometheus metrics kept in this process (or, with PROMETHEUS_MULTIPROC_DIR set before the first
import, in files every process on the host shares), exposed at /metrics (web/metrics.py).

Events are counted where they happen (a claim, a check-in, an intake row, a delivery attempt, a
request, a job): they have a rate, cost nothing to count, and a process that ends leaves its counts
in the multiprocess files. Queue state (outbox, notifications by state) is not counted here: it is
read from the database at scrape time, which every process changes and which is the truth.

Labels carry codes only — a route's template, a job's function, a channel, an outcome — never an
id, a path with ids, a name or a phone number."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "alliance_http_request_duration_seconds",
    "Time to answer a web request, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_RUNS = Counter(
    "alliance_job_runs_total",
    "arq job runs by function and outcome (complete, failed, retry, cancelled).",
    ["function", "outcome"],
)
JOB_SECONDS = Histogram(
    "alliance_job_duration_seconds",
    "Duration of arq job runs by function.",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1200),
)
DELIVERIES = Counter(
    "alliance_notification_deliveries_total",
    "Attempts to hand a notification to its gateway, by channel and outcome (sent, retry, failed).",
    ["channel", "outcome"],
)
GATEWAY_SECONDS = Histogram(
    "alliance_notification_gateway_seconds",
    "Time the gateway took to accept (or refuse) a notification, by channel.",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CLAIMS = Counter(
    "alliance_claims_total",
    "Service-request claims by outcome (claimed, released, closed).",
    ["outcome"],
)
CHECK_INS = Counter(
    "alliance_check_ins_total",
    "Volunteer check-ins by method (card, gps) and whether they were flagged for review.",
    ["method", "flagged"],
)
INTAKE_ROWS = Counter(
    "alliance_intake_rows_total",
    "Household intake rows by outcome (accepted, rejected) and channel (file, api, cli).",
    ["outcome", "channel"],
)


def delivery_finished(channel: object, outcome: str, seconds: float) -> None:
    DELIVERIES.labels(channel=str(channel), outcome=outcome).inc()
    GATEWAY_SECONDS.labels(channel=str(channel)).observe(seconds)


def claim_counted(outcome: str) -> None:
    CLAIMS.labels(outcome=outcome).inc()


def check_in_counted(method: str, flagged: bool) -> None:
    CHECK_INS.labels(method=method, flagged="yes" if flagged else "no").inc()


def intake_rows_counted(channel: object, accepted: int, rejected: int) -> None:
    if accepted:
        INTAKE_ROWS.labels(outcome="accepted", channel=str(channel)).inc(accepted)
    if rejected:
        INTAKE_ROWS.labels(outcome="rejected", channel=str(channel)).inc(rejected)

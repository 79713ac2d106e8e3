"""/metrics in Prometheus' text format (docs/operations.md, "Metrics").

Counters and histograms come from prometheus-client's registry — this process's, or with
PROMETHEUS_MULTIPROC_DIR (set by `alliance serve --workers N`) the files of every process on the
host. Queue state is read from the database and Redis at scrape time: it is the same whichever
process answers, and the database is its truth."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.applications import Starlette
from tortoise.functions import Count

from alliance.core import heartbeats
from alliance.notifications.models import Notification
from web.health import _quietly, outbox_report
from web.jobs import redis_client


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


# The classic text format, which every Prometheus (and generate_latest) speaks.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot:
    """Gauges measured just before this scrape (prometheus-client collectors are synchronous)."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Any:
        return iter(self.families)


async def _state_gauges(app: Starlette) -> list[GaugeMetricFamily]:
    families = []
    by_state = GaugeMetricFamily(
        "alliance_notifications",
        "Notifications in the outbox by channel and state.",
        labels=["channel", "state"],
    )
    rows = await _quietly(
        Notification.all()
        .annotate(count=Count("id"))
        .group_by("channel", "status")
        .values("channel", "status", "count")
    )
    for row in rows or []:
        by_state.add_metric([str(row["channel"]), str(row["status"])], row["count"])
    families.append(by_state)
    backlog = await _quietly(outbox_report())
    if backlog is not None:
        for name, key, text in (
            (
                "alliance_outbox_pending_jobs",
                "pending_jobs",
                "Jobs written to the outbox and not yet queued.",
            ),
            (
                "alliance_outbox_oldest_pending_job_seconds",
                "oldest_pending_job_seconds",
                "Age of the oldest job waiting in the outbox (0 when none).",
            ),
            (
                "alliance_outbox_pending_notifications",
                "pending_notifications",
                "Notifications waiting to be sent.",
            ),
            (
                "alliance_outbox_oldest_pending_notification_seconds",
                "oldest_pending_notification_seconds",
                "Age of the oldest notification waiting to be sent (0 when none).",
            ),
            (
                "alliance_notification_expired_leases",
                "expired_leases",
                "Notifications whose sending worker died, waiting for the relay.",
            ),
        ):
            families.append(GaugeMetricFamily(name, text, value=backlog[key] or 0))
    beats = await _quietly(heartbeats.worker_beats(redis_client(app)))
    if beats is not None:
        workers = GaugeMetricFamily(
            "alliance_workers", "Workers known by their heartbeat, by state.", labels=["state"]
        )
        workers.add_metric(["beating"], sum(1 for beat in beats if not beat.silent))
        workers.add_metric(["silent"], sum(1 for beat in beats if beat.silent))
        families.append(workers)
    return families


async def exposition(app: Starlette) -> tuple[bytes, str]:
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(await _state_gauges(app)))
    return generate_latest(_process_registry()) + generate_latest(snapshot), CONTENT_TYPE

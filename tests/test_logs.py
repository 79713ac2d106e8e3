"""Structured logs (alliance/core/logs.py, web/observe.py, workers/observe.py): one JSON line per
request and per job, the request's id carried into the jobs it enqueued, and no personal data in
any line: no household's name, phone, ID number or address, no message body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from alliance.core.logs import JsonFormatter
from alliance.households.models import Household
from alliance.notifications.models import Notification, OutboxJob
from alliance.partners.models import Volunteer
from alliance.visits.models import Visit
from tests.factories import login, session_csrf
from tests.visits_support import add_volunteer, build_visit_world, days_ahead


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of this process at the production level (INFO), as the JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_request_and_the_jobs_it_enqueued_log_json_lines_sharing_its_request_id_and_no_personal_data(
    app, arq_worker, captured
):
    world = await build_visit_world()
    volunteer = await add_volunteer(world.partner, "安志愿")
    await Volunteer.filter(id=volunteer.id).update(phone="13900002222")
    household = await Household.get(id=world.request.household_id)  # type: ignore[attr-defined]
    start = days_ahead(2, 9)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await login(browser, world.claims.home.dispatcher.username)
        answer = await browser.post(
            f"/requests/{world.request.id}/schedule",
            data={
                "date": start.date().isoformat(),
                "start": start.strftime("%H:%M"),
                "end": start.replace(hour=10).strftime("%H:%M"),
                "volunteer_ids": str(volunteer.id),
                "csrf_token": session_csrf(browser),
            },
        )
    assert answer.status_code == 303
    request_id = answer.headers["x-request-id"]
    # The notices' delivery job is due now; the two reminders are deferred for days.
    arq_worker.max_burst_jobs = 1
    await arq_worker.main()
    assert arq_worker.jobs_complete == 1
    assert await Notification.filter(status="sent").count() >= 2

    lines = _lines(captured)
    [scheduled] = [
        line for line in lines if line["message"] == "request" and line["route"].endswith("/schedule")
    ]
    assert scheduled == {
        **scheduled,
        "route": "/requests/{request_id:int}/schedule",
        "status": 303,
        "request_id": request_id,
        "principal_id": world.dispatcher.user_id,
    }
    assert scheduled["duration_ms"] >= 0
    [job] = [line for line in lines if line["message"] == "job"]
    assert job["function"] == "deliver_notifications" and job["outcome"] == "complete"
    assert job["request_id"] == request_id and job["job_id"] and job["duration_ms"] >= 0
    delivered = [line for line in lines if line["message"] == "notification handed to the log provider"]
    assert len(delivered) >= 2 and all(line["request_id"] == request_id for line in delivered)

    visit = await Visit.get(request_id=world.request.id)
    # The reminders wait in the outbox with the request's id, for the worker's relay to pass on.
    planned = await OutboxJob.filter(job_name="send_visit_reminder").values_list("request_id", flat=True)
    assert planned and set(planned) == {request_id}
    everything = captured.getvalue()
    bodies = await Notification.filter(visit_id=visit.id).values_list("body", flat=True)
    for personal in [
        household.head_name,
        household.phone,
        household.id_number,
        household.address,
        "安志愿",
        "13900002222",
        *bodies,
    ]:
        assert personal and personal not in everything, personal


async def test_a_callers_request_id_is_kept_and_a_made_up_one_is_replaced(client, captured):
    kept = await client.get("/healthz", headers={"X-Request-ID": "lb-4f3a2b1c"})
    assert kept.headers["x-request-id"] == "lb-4f3a2b1c"
    made_up = "张三 13812345678".encode()
    replaced = await client.get("/healthz", headers={"X-Request-ID": made_up})
    assert replaced.headers["x-request-id"] != made_up.decode("latin-1")
    assert "13812345678" not in captured.getvalue()
    assert [line["request_id"] for line in _lines(captured) if line["message"] == "request"] == [
        "lb-4f3a2b1c",
        replaced.headers["x-request-id"],
    ]

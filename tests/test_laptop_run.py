"""`alliance run` on a fresh laptop: no DATABASE_URL, no REDIS_URL. It migrates a new SQLite database,
loads the demo city, starts an embedded Redis, the web app and an arq worker that delivers jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND, _free_port
from tests.factories import csrf_from, session_csrf

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the laptop path is SQLite; run once")


def _query(database: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, args).fetchall()


async def test_alliance_run_serves_the_demo_city_with_a_working_worker(tmp_path):
    port = _free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL", "SECRET_KEY"}
    }
    environment.update(ALLIANCE_DATA_DIR=str(tmp_path), LOG_LEVEL="warning", ALLIANCE_LANGUAGE="zh_CN")
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "run", "--port", str(port)],
        env=environment,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "alliance.sqlite3"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as browser:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, f"alliance run exited with {process.returncode}"
                assert time.monotonic() < deadline, "alliance run did not serve within 120 s"
                try:
                    health = await browser.get("/healthz")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
            assert health.json()["redis"]["ok"] is True

            # A district coordinator sees their district and none of another's.
            page = await browser.get("/login")
            signed_in = await browser.post(
                "/login",
                data={
                    "username": "coord.lucheng",
                    "password": "alliance-demo",
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert signed_in.status_code == 303
            households = await browser.get("/households")
            assert households.status_code == 200 and "鹿城区" in households.text
            assert "文成县" not in households.text.split('id="results"', 1)[1]
            await browser.post("/logout", data={"csrf_token": session_csrf(browser)})

            # The admin approves the pending partner: the notice is delivered by the worker.
            page = await browser.get("/login")
            await browser.post(
                "/login",
                data={"username": "admin", "password": "alliance-demo", "csrf_token": csrf_from(page.text)},
            )
            [(partner_id,)] = _query(database, "SELECT id FROM partner WHERE status = 'pending' LIMIT 1")
            # The demo's own notices (tomorrow's reminders, say) wait for their time: watch only the
            # approval's.
            [(before,)] = _query(database, "SELECT coalesce(max(id), 0) FROM notification")
            approved = await browser.post(
                f"/admin/partners/{partner_id}/status",
                data={"status": "approved"},
                headers={"X-CSRF-Token": session_csrf(browser), "HX-Request": "true"},
            )
            assert approved.status_code == 200
            deadline = time.monotonic() + 30
            while _query(
                database, f"SELECT count(*) FROM notification WHERE status = 'pending' AND id > {before}"
            )[0][0]:
                assert time.monotonic() < deadline, "the worker did not deliver the notice within 30 s"
                await asyncio.sleep(0.2)
            assert (
                _query(
                    database, f"SELECT count(*) FROM notification WHERE status = 'sent' AND id > {before}"
                )[0][0]
                >= 1
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

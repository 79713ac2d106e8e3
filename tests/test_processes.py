"""Processes: the web app is stateless (two server processes on one database serve one user's
session), and `alliance run`/`serve` stop every child they started when stopped or killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from tortoise import Tortoise

from alliance.core.accounts import create_user
from alliance.core.codes import Role
from tests.conftest import BACKEND, _free_port, start_live_server, stop_live_server
from tests.factories import build_two_sides, csrf_from


async def test_a_session_started_on_one_process_works_on_another(servers, tmp_path):
    await build_two_sides()
    first = start_live_server(servers, tmp_path / "one")
    second = start_live_server(servers, tmp_path / "two")
    try:
        async with httpx.AsyncClient(timeout=10) as browser:
            page = await browser.get(first.url + "/login")
            signed_in = await browser.post(
                first.url + "/login",
                data={
                    "username": "coordA",
                    "password": "correct-horse-1",
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert signed_in.status_code == 303
            # Same cookie, the other process: the session and the region scope hold.
            households = await browser.get(second.url + "/households")
            assert households.status_code == 200
            assert "张A" in households.text and "张B" not in households.text
            # A form from process one posts to process two: the CSRF token travels in the session.
            signed_out = await browser.post(
                second.url + "/logout", data={"csrf_token": csrf_from(households.text)}
            )
            assert signed_out.status_code == 303
            after = await browser.get(first.url + "/households", follow_redirects=False)
            assert after.status_code == 303 and after.headers["location"].startswith("/login")
    finally:
        stop_live_server(first)
        stop_live_server(second)


def _laptop_environment(data_dir: Path) -> dict[str, str]:
    """A laptop's: no DATABASE_URL, no REDIS_URL (SQLite and an embedded Redis under data_dir)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL", "SECRET_KEY"}
    }
    environment.update(ALLIANCE_DATA_DIR=str(data_dir), LOG_LEVEL="warning")
    return environment


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _database_with_a_user(path: Path) -> None:
    """A copy of the test database holding one account, so `alliance run` skips loading the demo
    city (and no migration runs from scratch)."""
    await create_user("admin", "pw-1234567", Role.ADMIN)
    await Tortoise.get_connection("default").execute_script(f"VACUUM INTO '{path}'")


@pytest.mark.skipif(BACKEND != "sqlite", reason="the laptop path is SQLite; run once")
@pytest.mark.parametrize(
    "command,signal_number",
    [("run", signal.SIGTERM), ("run", signal.SIGKILL), ("serve", signal.SIGTERM)],
    ids=["run-SIGTERM", "run-SIGKILL", "serve-SIGTERM"],
)
async def test_a_stopped_or_killed_alliance_command_leaves_no_child_running(tmp_path, command, signal_number):
    """SIGTERM: `alliance run` stops its worker and its embedded Redis, `alliance serve` its embedded
    Redis. SIGKILL of `alliance run` (no chance to clean up): the kernel stops them with it."""
    await _database_with_a_user(tmp_path / "alliance.sqlite3")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", command, "--port", str(port)],
        env=_laptop_environment(tmp_path),
        start_new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        expected = {"redis-server", "python"} if command == "run" else {"redis-server"}
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as browser:
            while True:
                assert process.poll() is None, f"alliance {command} exited with {process.returncode}"
                assert time.monotonic() < deadline, f"alliance {command} did not start within 60 s"
                try:
                    answered = (await browser.get(f"http://127.0.0.1:{port}/healthz")).status_code
                except httpx.TransportError:
                    answered = None
                children = psutil.Process(process.pid).children(recursive=True)
                names = {"python" if "python" in child.name() else child.name() for child in children}
                if answered and expected <= names:
                    break
                await asyncio.sleep(0.2)

        os.kill(process.pid, signal_number)
        process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while left := [child for child in children if _running(child)]:
            assert time.monotonic() < deadline, [(child.pid, child.name()) for child in left]
            await asyncio.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for child in children:
            if _running(child):
                child.kill()

"""The test harness itself: two pytest sessions started at once on one machine (two checkouts, or a
re-run beside a running one) each get an embedded PostgreSQL of their own that keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    BACKEND != "postgres" or bool(os.environ.get("TEST_DATABASE_URL")),
    reason="the embedded PostgreSQL's harness: run once, in the run that uses it",
)


def test_two_sessions_started_at_once_both_get_a_working_embedded_postgres(tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TEST_DATABASE_URL", "REDIS_URL", "TEST_REDIS_URL", "PYTEST_ADDOPTS"}
    }
    environment["ALLIANCE_TEST_BACKEND"] = "postgres"
    # No --basetemp: both sessions share pytest's temporary root, as two `make test` runs do.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/probe_embedded_postgres.py",
    ]
    sessions = []
    for number in (1, 2):
        log = open(tmp_path / f"session{number}.log", "wb")  # noqa: SIM115 - closed below
        sessions.append((subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log), log))
    outcomes = []
    for process, log in sessions:
        try:
            process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
        outcomes.append(process.returncode)
    logs = [(tmp_path / f"session{number}.log").read_text() for number in (1, 2)]
    assert outcomes == [0, 0], logs
    assert all("1 passed" in text for text in logs), logs

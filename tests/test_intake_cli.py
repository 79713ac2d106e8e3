"""`alliance import households` and `alliance source`, run as the real command against a fresh SQLite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.intake_support import WENCHENG_COMMUNITY, csv_text, person

PREPARE = """
import asyncio
from alliance.core import db
from alliance.core.config import load_settings
from alliance.households.reference import ensure_reference_data
from tests.intake_support import build_city

async def main():
    url = load_settings().database_url
    await db.migrate(url)
    await db.connect(url)
    await ensure_reference_data()
    await build_city()
    await db.disconnect()

asyncio.run(main())
"""
ROOT = Path(__file__).resolve().parent.parent
# Each command runs on its own SQLite file whatever the backend of the run.
pytestmark = pytest.mark.sqlite_only


def _environment(directory: Path, keys: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "GEOCODER")
    }
    env.update(
        DATABASE_URL=f"sqlite://{directory / 'cli.sqlite3'}",
        ALLIANCE_DATA_DIR=str(directory / "data"),
        ALLIANCE_LANGUAGE="en",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
    )
    if not env.get("ALLIANCE_DATA_KEYS"):
        # The prepared file's phones and ID numbers are read by every copy: one keyring for them all.
        env["ALLIANCE_DATA_KEYS_FILE"] = str(keys)
    return env


@pytest.fixture(scope="session")
def prepared_city(tmp_path_factory) -> tuple[Path, Path]:
    """The city migrated and loaded once per session by the real code; each test gets a copy."""
    directory = tmp_path_factory.mktemp("cli-city")
    keys = directory / "data.keys"
    env = _environment(directory, keys)
    subprocess.run([sys.executable, "-c", PREPARE], env=env, cwd=ROOT, check=True, timeout=300)
    return directory / "cli.sqlite3", keys


@pytest.fixture
def environment(tmp_path: Path, prepared_city: tuple[Path, Path]) -> dict[str, str]:
    database, keys = prepared_city
    for suffix in ("", "-wal"):
        if Path(f"{database}{suffix}").exists():
            shutil.copyfile(f"{database}{suffix}", tmp_path / f"cli.sqlite3{suffix}")
    return _environment(tmp_path, keys)


def alliance(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(path: Path, records) -> Path:
    path.write_text(csv_text(records), encoding="utf-8")
    return path


@pytest.mark.slow
def test_json_output_is_exactly_one_object_and_refused_rows_still_exit_0(environment, tmp_path):
    path = write(
        tmp_path / "households.csv",
        [person(1), person(2, phone="12"), person(3, region_code=WENCHENG_COMMUNITY)],
    )
    done = alliance(environment, "import", "households", str(path), "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer == {
        "batch": 1,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": [
            {
                "row": 2,
                "external_id": "WZ-000002",
                "errors": [{"field": "phone", "message": answer["rejected"][0]["errors"][0]["message"]}],
            }
        ],
        "conflicts": [],
        "requests_created": 6,
    }
    again = json.loads(alliance(environment, "import", "households", str(path), "--json").stdout)
    assert (again["batch"], again["created"], again["unchanged"]) == (2, 0, 2)


@pytest.mark.slow
def test_an_unreadable_file_exits_2_with_a_message(environment, tmp_path):
    missing = alliance(environment, "import", "households", str(tmp_path / "nope.csv"), "--json")
    assert missing.returncode == 2 and "error" in json.loads(missing.stdout)
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,name\n1,王\n", encoding="utf-8")
    done = alliance(environment, "import", "households", str(bad_header))
    assert done.returncode == 2 and "Missing column" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_without_json_a_progress_bar_and_a_readable_summary(environment, tmp_path):
    path = write(tmp_path / "gbk.csv", [person(1, head_name="张三"), person(2, member_count=0)])
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    done = alliance(environment, "import", "households", str(path), "--geocode-now")
    assert done.returncode == 0, done.stderr
    assert "2 of 2 rows (100%)" in done.stderr and "rows/s" in done.stderr
    assert "1 created, 0 updated, 0 unchanged, 1 rejected" in done.stdout
    assert "gbk" in done.stdout
    assert "row 2 (WZ-000002): member_count:" in done.stdout
    assert "addresses geocoded" in done.stdout


@pytest.mark.slow
def test_sources_are_added_with_a_printed_secret_and_named_on_import(environment, tmp_path):
    added = alliance(environment, "source", "add", "wenzhou-sais")
    assert added.returncode == 0
    secret = added.stdout.strip().splitlines()[-1]
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert alliance(environment, "source", "add", "wenzhou-sais").returncode == 2
    path = write(tmp_path / "households.jsonl", [])
    path.write_text("\n".join(json.dumps(person(number)) for number in (1, 2)), encoding="utf-8")
    done = alliance(environment, "import", "households", str(path), "--source", "wenzhou-sais", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["created"] == 2
    unknown = alliance(environment, "import", "households", str(path), "--source", "nobody", "--json")
    assert unknown.returncode == 2 and "nobody" in json.loads(unknown.stdout)["error"]
    listed = alliance(environment, "source", "list")
    assert "wenzhou-sais\tactive" in listed.stdout


def test_region_policy_is_shown_set_and_inherited_from_the_command_line(environment, tmp_path):
    from tests.intake_support import LUCHENG, LUCHENG_COMMUNITY

    assert (
        alliance(environment, "import", "households", str(write(tmp_path / "h.csv", [person(1)]))).returncode
        == 0
    )
    shown = alliance(environment, "region-policy", LUCHENG_COMMUNITY)
    assert shown.returncode == 0 and "inherit (in force: no)" in shown.stdout
    done = alliance(environment, "region-policy", LUCHENG, "--verification-required", "yes")
    assert done.returncode == 0 and "yes (in force: yes)" in done.stdout, done.stderr
    shown = alliance(environment, "region-policy", LUCHENG_COMMUNITY)
    assert "inherit (in force: yes)" in shown.stdout
    refused = alliance(environment, "region-policy", "999999", "--verification-required", "no")
    assert refused.returncode == 2 and "unknown region code" in refused.stderr

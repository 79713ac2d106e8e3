"""`alliance volunteer import|list|deactivate|reactivate`, run as the real command on a fresh SQLite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.test_intake_cli import ROOT, alliance, environment, prepared_city  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.sqlite_only

ADD_PARTNER = """
import asyncio
from alliance.core import db
from alliance.core.config import load_settings
from alliance.partners.models import Partner

async def main():
    await db.connect(load_settings().database_url)
    await Partner.create(name="测试伙伴", kind="volunteer_team", status="approved", region_id="330302")
    await db.disconnect()

asyncio.run(main())
"""


@pytest.fixture
def env(environment):  # noqa: F811
    subprocess.run([sys.executable, "-c", ADD_PARTNER], env=environment, cwd=ROOT, check=True, timeout=120)
    return environment


def test_import_list_and_deactivate(env, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "name,phone,skills,community,availability\n"
        "甲,13900000001,CARE,330302001001,mon 09:00-12:00\n"
        "乙,123,CARE,330302001001,\n",
        encoding="utf-8",
    )
    done = alliance(env, "volunteer", "import", str(path), "--partner", "测试伙伴")
    assert done.returncode == 0, done.stderr
    assert "1 volunteers added, 1 rows refused" in done.stdout
    assert "row 2: phone:" in done.stderr
    listed = alliance(env, "volunteer", "list", "--partner", "测试伙伴", "--json")
    rows = json.loads(listed.stdout)["volunteers"]
    assert [(row["name"], row["status"], row["active"]) for row in rows] == [("甲", "approved", True)]
    gone = alliance(env, "volunteer", "deactivate", str(rows[0]["id"]))
    assert gone.returncode == 0 and "deactivated" in gone.stdout
    listed = alliance(env, "volunteer", "list", "--partner", "测试伙伴")
    assert "inactive" in listed.stdout
    assert alliance(env, "volunteer", "import", str(path), "--partner", "nobody").returncode == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("who\n1\n", encoding="utf-8")
    refused = alliance(env, "volunteer", "import", str(bad), "--partner", "测试伙伴")
    assert refused.returncode == 2 and "max_travel_km" in refused.stderr

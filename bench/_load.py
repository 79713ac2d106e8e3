"""Shared by the page benches: the real app in a subprocess (`alliance serve`), logged-in sessions and a
small keep-alive load client that measures one page under concurrent clients."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    url: str, workdir: Path, *, redis_url: str, secret_key: str, workers: int = 2, **extra_env: str
) -> tuple[subprocess.Popen, str]:
    """`alliance serve --workers N` on the database `url`; returns the process and its base URL."""
    port = free_port()
    env = {**os.environ}
    env.update(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        SECRET_KEY=secret_key,
        ALLIANCE_DATA_DIR=str(workdir / "data"),
        ALLIANCE_LANGUAGE="zh_CN",
        LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra_env)
    script = Path(sys.executable).parent / "alliance"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "web.cli"]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start: " + (process.stderr.read() or b"").decode()[-2000:])


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def logged_in(base: str, username: str, password: str) -> httpx.AsyncClient:
    """A session logged in through the login form (CSRF token from the form, as a browser does)."""
    client = httpx.AsyncClient(base_url=base, timeout=60)
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text[:300]
    return client


class PageClient:
    """A minimal HTTP/1.1 keep-alive client for the measured GETs: httpx costs more CPU per request
    than the page itself, and the client shares the machine's two cores with the server."""

    def __init__(self, base: str, cookie: str) -> None:
        parts = urlsplit(base)
        self.host, self.port, self.cookie = parts.hostname, parts.port, cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nCookie: {self.cookie}\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.lower(): value.strip() for name, _sep, value in (line.partition(":") for line in lines[1:])
        }
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def measure(
    base: str,
    username: str,
    password: str,
    path: str,
    *,
    clients: int,
    requests: int,
    check: Callable[[int, bytes], bool],
) -> dict[str, float]:
    """`clients` sessions of `username`; one cold round (all at once), then `requests` GETs of `path` per
    client, all clients at once. Latencies of the measured rounds: p50 / p95 / max, and pages per second."""
    sessions = []
    for _ in range(clients):
        login = await logged_in(base, username, password)
        cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
        await login.aclose()
        sessions.append(PageClient(base, cookie))
    try:

        async def one(client: PageClient) -> float:
            started = time.perf_counter()
            status, body = await client.get(path)
            assert check(status, body), (status, body[:300])
            return time.perf_counter() - started

        cold = await asyncio.gather(*(one(client) for client in sessions))

        async def loop(client: PageClient) -> list[float]:
            return [await one(client) for _ in range(requests)]

        started = time.perf_counter()
        rounds = await asyncio.gather(*(loop(client) for client in sessions))
        wall = time.perf_counter() - started
    finally:
        for client in sessions:
            await client.close()
    latencies = sorted(value for values in rounds for value in values)
    cold = sorted(cold)
    return {
        "cold_p50": statistics.median(cold),
        "cold_p95": cold[int(0.95 * (len(cold) - 1))],
        "cold_max": cold[-1],
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1],
        "count": len(latencies),
        "per_second": len(latencies) / wall,
    }

"""Structured logs: one JSON object a line (ALLIANCE_LOG_FORMAT=json, the default; `text` for a
terminal), and the request id that ties a web request to the jobs it enqueued.

A log line carries ids and codes, never personal data: no names, phone numbers, ID numbers,
addresses or message bodies (tests/test_logs.py checks a request and its jobs)."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

# The id of the web request (or of the request that enqueued the running job): set by the request
# middleware and the job wrapper, read when a job is enqueued or an outbox row written.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# uvicorn adds `color_message` (the same text with terminal colours) to its records.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "fields", "color_message"}


def new_request_id() -> str:
    return secrets.token_hex(8)


def current_request_id() -> str | None:
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...fields}`; fields come from `extra={"fields": {...}}`
    (and any other `extra` keys); the current request id is added when one is set."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", None) or {})
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None) or {}
        return line + "".join(f" {key}={value}" for key, value in fields.items())


def formatter() -> logging.Formatter:
    return TextFormatter() if os.environ.get("ALLIANCE_LOG_FORMAT", "json") == "text" else JsonFormatter()


def configure_logging(level: str | None = None) -> None:
    """Log to stderr in the chosen format, once per process (later calls leave it as it is)."""
    root = logging.getLogger()
    if any(getattr(handler, "_alliance", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    handler._alliance = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())

"""Intake sources: the systems allowed to push households, their secrets and request signatures.

A request is signed with HMAC-SHA256, under the source's secret, over
"<timestamp>\n<METHOD>\n<path>\n<raw body>" (signing_payload), so a signature made for one request
cannot be replayed on another path or with another method, and sent with X-Alliance-Timestamp and
X-Alliance-Signature: sha256=<hex>. It is accepted when the
timestamp is within five minutes of our clock, the signature matches an active source and the same
signature was not accepted before (replay). Accepted signatures are kept in the database for twice
the window, so every web process sees the same record of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.households.models import IntakeSignature, IntakeSource

SIGNATURE_WINDOW_SECONDS = 300
SIGNATURE_HEADER_PATTERN = re.compile(r"^sha256=([0-9a-f]{64})$")
# Unix seconds; up to three decimals so a client may sign more than one request a second.
TIMESTAMP_PATTERN = re.compile(r"^\d{9,11}(\.\d{1,3})?$")
SOURCE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SignatureRejected(AllianceError):
    """401: the request is not from a known source, too old, or a replay. `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_secret() -> str:
    return secrets.token_hex(32)


def signing_payload(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """What is signed: the timestamp (the header's exact text), the method in capitals, the path as
    sent (percent-encoded as on the wire, without the query string) and the body, the first three
    each ended by a line feed."""
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: str, body: bytes, *, method: str, path: str) -> str:
    """The X-Alliance-Signature value for `method path` with `body`, sent at `timestamp`."""
    payload = signing_payload(timestamp, method, path, body)
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def add_source(name: str) -> tuple[IntakeSource, str]:
    """Register a source; returns it with its secret (shown once to the admin, kept for HMAC)."""
    name = name.strip()
    if not SOURCE_NAME_PATTERN.match(name):
        raise InvalidInput({"name": _("Letters, digits, '.', '_' and '-' only, at most 64 characters.")})
    if await IntakeSource.exists(name=name):
        raise InvalidInput({"name": _("A source named {name} exists already.").format(name=name)})
    secret = new_secret()
    source = await IntakeSource.create(name=name, secret=secret)
    return source, secret


async def rotate_secret(name: str) -> str:
    """A new secret for a source; the old one stops working at once."""
    source = await IntakeSource.get_or_none(name=name)
    if source is None:
        raise InvalidInput({"name": _("No source named {name}.").format(name=name)})
    source.secret = new_secret()
    await source.save(update_fields=["secret"])
    return source.secret


async def set_source_active(name: str, active: bool) -> IntakeSource:
    source = await IntakeSource.get_or_none(name=name)
    if source is None:
        raise InvalidInput({"name": _("No source named {name}.").format(name=name)})
    source.active = active
    await source.save(update_fields=["active"])
    return source


async def source_named(name: str) -> IntakeSource:
    source = await IntakeSource.get_or_none(name=name)
    if source is None:
        raise InvalidInput(
            {"source": _("No source named {name}; add it with `alliance source add`.").format(name=name)}
        )
    return source


async def verify_signed_request(
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    source_name: str | None = None,
    now: datetime | None = None,
    *,
    method: str,
    path: str,
) -> IntakeSource:
    """The source that signed this request (`method` `path` with `body`), or SignatureRejected.
    Records the signature (replays fail)."""
    now = now or utc_now()
    if not timestamp or not signature:
        raise SignatureRejected(
            _("Sign the request: X-Alliance-Timestamp and X-Alliance-Signature are required.")
        )
    if not TIMESTAMP_PATTERN.match(timestamp.strip()):
        raise SignatureRejected(_("X-Alliance-Timestamp must be unix seconds, e.g. 1735689600."))
    sent_at = float(timestamp)
    if abs(now.timestamp() - sent_at) > SIGNATURE_WINDOW_SECONDS:
        raise SignatureRejected(
            _("The timestamp is more than 5 minutes away from the server's clock; sign the request again.")
        )
    found = SIGNATURE_HEADER_PATTERN.match(signature.strip().lower())
    if not found:
        raise SignatureRejected(_("X-Alliance-Signature must be sha256=<64 hex digits>."))
    sources = IntakeSource.filter(active=True)
    if source_name:
        sources = sources.filter(name=source_name)
    signer = None
    for source in await sources:
        expected = sign(source.secret, timestamp.strip(), body, method=method, path=path)
        if hmac.compare_digest(expected, f"sha256={found.group(1)}"):
            signer = source
            break
    if signer is None:
        raise SignatureRejected(
            _(
                "The signature does not match any active source (it covers the timestamp, method, "
                "path and body)."
            )
        )
    await IntakeSignature.filter(at__lt=now - timedelta(seconds=2 * SIGNATURE_WINDOW_SECONDS)).delete()
    try:
        await IntakeSignature.create(signature=found.group(1), source_id=signer.id, at=now)
    except IntegrityError as error:
        raise SignatureRejected(
            _("This signature was used before (replay); sign each request anew.")
        ) from error
    signer.last_used_at = now
    await signer.save(update_fields=["last_used_at"])
    return signer

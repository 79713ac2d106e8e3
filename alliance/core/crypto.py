"""Personal data at rest: ID numbers and phone numbers encrypted field by field, found by a blind index.

- **Encryption**: AES-256-GCM (authenticated) under a *data key* that is not SECRET_KEY. The keyring
  holds versioned keys; each ciphertext names its key (`enc1:<key id>:<base64 nonce+ciphertext>`),
  so rows under an old and a new key decrypt side by side while `alliance keys rotate` works. The
  column's purpose ("household.phone") is the associated data: a ciphertext copied into another
  column does not decrypt.
- **Blind index**: HMAC-SHA256 of the normalised value under a separate *index key*, stored in an
  indexed column; exact match only (no prefix, no "contains"). Lookups try every index key still in
  the keyring, so an index-key rotation loses no match while it recomputes the rows.

The keyring comes from ALLIANCE_DATA_KEYS (inline JSON, read-only), else ALLIANCE_DATA_KEYS_FILE,
else data/data.keys, created 0600 on first use like data/secret.key (docs/security.md).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import secrets
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tortoise import fields

from alliance.core.config import DEFAULT_DATA_DIR, restrict_to_owner

PREFIX = "enc1:"
# Personal fields inside JSON records (rejected intake rows, conflicts, merge snapshots).
SEALED_RECORD_KEYS = ("id_number", "phone")
# How often a process looks for a keyring another process (the rotate command) changed.
RELOAD_EVERY_SECONDS = 1.0


class KeyringError(RuntimeError):
    """The keyring is missing a key a value needs, or cannot be written."""


@dataclass
class Keyring:
    # key id -> 32 raw bytes; retired ids keep no key material (listed so they are never reused).
    data_keys: dict[int, bytes]
    active_data_key: int
    index_keys: dict[int, bytes]
    active_index_key: int
    retired: list[int] = field(default_factory=list)
    retired_index: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
        return json.dumps(
            {
                "data_keys": {str(key_id): encode(raw) for key_id, raw in sorted(self.data_keys.items())},
                "active_data_key": self.active_data_key,
                "index_keys": {str(key_id): encode(raw) for key_id, raw in sorted(self.index_keys.items())},
                "active_index_key": self.active_index_key,
                "retired": sorted(self.retired),
                "retired_index": sorted(self.retired_index),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        raw = json.loads(text)
        decode = base64.b64decode
        keyring = cls(
            data_keys={int(key_id): decode(value) for key_id, value in raw["data_keys"].items()},
            active_data_key=int(raw["active_data_key"]),
            index_keys={int(key_id): decode(value) for key_id, value in raw["index_keys"].items()},
            active_index_key=int(raw["active_index_key"]),
            retired=[int(key_id) for key_id in raw.get("retired", [])],
            retired_index=[int(key_id) for key_id in raw.get("retired_index", [])],
        )
        for raw_key in (*keyring.data_keys.values(), *keyring.index_keys.values()):
            if len(raw_key) != 32:
                raise KeyringError("every data and index key must be 32 bytes (base64)")
        if keyring.active_data_key not in keyring.data_keys:
            raise KeyringError("the active data key is not in the keyring")
        if keyring.active_index_key not in keyring.index_keys:
            raise KeyringError("the active index key is not in the keyring")
        return keyring

    @classmethod
    def new(cls) -> Keyring:
        return cls({1: AESGCM.generate_key(256)}, 1, {1: secrets.token_bytes(32)}, 1)


def keyring_path() -> Path | None:
    """The file the keyring lives in, or None when it comes inline from ALLIANCE_DATA_KEYS."""
    if os.environ.get("ALLIANCE_DATA_KEYS"):
        return None
    if path := os.environ.get("ALLIANCE_DATA_KEYS_FILE"):
        return Path(path)
    return Path(os.environ.get("ALLIANCE_DATA_DIR", DEFAULT_DATA_DIR)) / "data.keys"


_lock = threading.Lock()
_cache: dict[str, Any] = {"keyring": None, "source": None, "mtime": None, "checked": 0.0}


def _load() -> Keyring:
    if inline := os.environ.get("ALLIANCE_DATA_KEYS"):
        return Keyring.from_json(inline)
    path = keyring_path()
    assert path is not None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes may start at once: create exclusively, the loser reads the winner's keys.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(Keyring.new().to_json())
    restrict_to_owner(path)
    return Keyring.from_json(path.read_text())


def _keyring_settings() -> tuple[str | None, ...]:
    return tuple(
        os.environ.get(name)
        for name in ("ALLIANCE_DATA_KEYS", "ALLIANCE_DATA_KEYS_FILE", "ALLIANCE_DATA_DIR")
    )


_held: ContextVar[Keyring | None] = ContextVar("held_keyring", default=None)


@contextmanager
def keyring_held() -> Iterator[Keyring]:
    """The current keyring for every value the block encrypts or indexes (an import's chunk: a few
    thousand), instead of one look at the settings per value. Like the once-a-second check, a
    rotation reaches the block's values only from the next block on."""
    ring = keyring()
    token = _held.set(ring)
    try:
        yield ring
    finally:
        _held.reset(token)


def keyring(force: bool = False) -> Keyring:
    """The current keyring. A file keyring is re-read when it changed (checked at most once a
    second), so a rotation started by the command reaches every running process."""
    if not force and (held := _held.get()) is not None:
        return held
    now = time.monotonic()
    # An import encrypts and hashes millions of values: the keyring checked within the second, for
    # the same settings, is returned without a lock or a look at the file.
    fast = _cache.get("fast")
    if (
        fast is not None
        and not force
        and now - fast[1] < RELOAD_EVERY_SECONDS
        and fast[0] == _keyring_settings()
    ):
        return fast[2]
    source = os.environ.get("ALLIANCE_DATA_KEYS") or str(keyring_path())
    with _lock:
        settings = _keyring_settings()
        cached = _cache["keyring"]
        if cached is not None and not force and _cache["source"] == source:
            if now - _cache["checked"] < RELOAD_EVERY_SECONDS:
                return cached
            _cache["checked"] = now
            path = keyring_path()
            mtime = path.stat().st_mtime_ns if path is not None and path.exists() else None
            if mtime == _cache["mtime"]:
                _cache["fast"] = (settings, now, cached)
                return cached
        loaded = _load()
        path = keyring_path()
        _cache.update(
            keyring=loaded,
            source=source,
            checked=now,
            mtime=path.stat().st_mtime_ns if path is not None and path.exists() else None,
            fast=(settings, now, loaded),
        )
        return loaded


def save_keyring(new: Keyring) -> None:
    """Write the keyring file atomically (0600), for the rotate command."""
    path = keyring_path()
    if path is None:
        raise KeyringError(
            "the keyring comes from ALLIANCE_DATA_KEYS and cannot be changed here: "
            "use ALLIANCE_DATA_KEYS_FILE to rotate in place (docs/security.md)"
        )
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    keyring(force=True)


def _aad(purpose: str) -> bytes:
    return f"alliance:{purpose}".encode()


def is_ciphertext(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(ciphertext: str) -> int:
    return int(ciphertext[len(PREFIX) :].split(":", 1)[0])


def encrypt(purpose: str, plaintext: str | None) -> str | None:
    """`enc1:<key id>:<base64(nonce || ciphertext+tag)>` under the active data key; None stays None."""
    if plaintext is None or plaintext == "":
        return plaintext
    if is_ciphertext(plaintext):
        return plaintext
    ring = keyring()
    nonce = secrets.token_bytes(12)
    sealed = _cipher(ring.data_keys[ring.active_data_key]).encrypt(nonce, plaintext.encode(), _aad(purpose))
    return f"{PREFIX}{ring.active_data_key}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(purpose: str, value: str | None) -> str | None:
    """The plaintext of a value `encrypt` made. A value without the prefix (a row not yet converted
    by the migration) is returned as it is."""
    if not is_ciphertext(value):
        return value
    assert value is not None
    key_id_text, payload = value[len(PREFIX) :].split(":", 1)
    key_id = int(key_id_text)
    ring = keyring()
    if key_id not in ring.data_keys:
        ring = keyring(force=True)
    if key_id not in ring.data_keys:
        raise KeyringError(f"data key {key_id} is not in the keyring (retired or missing)")
    raw = base64.b64decode(payload)
    return _cipher(ring.data_keys[key_id]).decrypt(raw[:12], raw[12:], _aad(purpose)).decode()


def reencrypt(purpose: str, value: str | None) -> str | None:
    """The value under the active data key (unchanged when it already is)."""
    if not is_ciphertext(value):
        return encrypt(purpose, value)
    assert value is not None
    if key_id_of(value) == keyring().active_data_key:
        return value
    return encrypt(purpose, decrypt(purpose, value))


def _hmac(key: bytes, purpose: str, normalised: str) -> str:
    """HMAC-SHA256 (RFC 2104), hex. The key's padded inner and outer hashes are computed once per key
    and copied for each value: an import hashes five values a row, and setting the key up each time
    was half the cost of `hmac.new` (2.5 µs against 1.4 µs here). tests/test_encryption.py checks
    it against `hmac.new`."""
    inner, outer = _hmac_pads(key)
    hashed = inner.copy()
    hashed.update(f"{purpose}\x00{normalised}".encode())
    result = outer.copy()
    result.update(hashed.digest())
    return result.hexdigest()


@functools.lru_cache(maxsize=32)
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (
        hashlib.sha256(bytes(byte ^ 0x36 for byte in key)),
        hashlib.sha256(bytes(byte ^ 0x5C for byte in key)),
    )


@functools.lru_cache(maxsize=32)
def _cipher(key: bytes) -> AESGCM:
    """One AESGCM per data key (its key schedule made once: 2.5 → 1.1 µs an encryption here)."""
    return AESGCM(key)


def blind_index(purpose: str, normalised: str | None) -> str | None:
    """The indexed keyed hash of an already normalised value under the active index key."""
    if not normalised:
        return None
    ring = keyring()
    return _hmac(ring.index_keys[ring.active_index_key], purpose, normalised)


def blind_indexes(purpose: str, normalised: str | None, active: str | None = None) -> list[str]:
    """The value's hash under every index key in the keyring: what a lookup searches for, so an
    index-key rotation half done finds rows under the old key and the new one. `active`: its hash
    under the active key when the caller has worked it out already (an import, for the rows it
    writes), first as always."""
    if not normalised:
        return []
    ring = keyring()
    first = active or _hmac(ring.index_keys[ring.active_index_key], purpose, normalised)
    return [
        first,
        *(
            _hmac(key, purpose, normalised)
            for key_id, key in ring.index_keys.items()
            if key_id != ring.active_index_key
        ),
    ]


def normalise_id_number(value: str | None) -> str:
    """An ID number in one spelling: no spaces, upper-case check character."""
    return "".join((value or "").split()).upper()


def normalise_phone_digits(value: str | None) -> str:
    """A phone number as its digits, without the country code: "+86 138-1234-5678" and
    "13812345678" index alike, as do "0577-88123456" and "057788123456"."""
    value = value or ""
    # Most numbers come normalised (all digits): no need to pick them out one by one.
    digits = value if value.isdigit() else "".join(character for character in value if character.isdigit())
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    return digits


def phone_address_key(phone: str | None, address: str) -> str | None:
    """ "phone|address" (phone digits; address without spaces, lower case), or None when either is
    missing: its blind index finds the same household sent under another external id."""
    if not phone or not address.strip():
        return None
    return (
        f"{normalise_phone_digits(phone)}|{''.join(unicodedata.normalize('NFKC', address).split()).lower()}"
    )


def id_number_index(id_number: str | None) -> str | None:
    return blind_index("id_number", normalise_id_number(id_number))


def phone_index(phone: str | None) -> str | None:
    return blind_index("phone", normalise_phone_digits(phone))


def seal_record(record: dict[str, Any], purpose: str) -> dict[str, Any]:
    """A JSON record (an intake row as sent, a merge snapshot) with its ID number and phone encrypted."""
    if not isinstance(record, dict) or not any(record.get(key) for key in SEALED_RECORD_KEYS):
        return record
    sealed = dict(record)
    for key in SEALED_RECORD_KEYS:
        if isinstance(sealed.get(key), str) and sealed[key]:
            sealed[key] = encrypt(f"{purpose}.{key}", sealed[key])
    return sealed


def open_record(record: dict[str, Any], purpose: str) -> dict[str, Any]:
    if not isinstance(record, dict) or not any(is_ciphertext(record.get(key)) for key in SEALED_RECORD_KEYS):
        return record
    opened = dict(record)
    for key in SEALED_RECORD_KEYS:
        opened[key] = decrypt(f"{purpose}.{key}", opened.get(key))
    return opened


def reseal_record(record: dict[str, Any], purpose: str) -> dict[str, Any]:
    return seal_record(open_record(record, purpose), purpose)


class FilterOnEncryptedField(ValueError):
    pass


class EncryptedField(fields.CharField):
    """A text column stored encrypted: the model's attribute holds the plaintext, the database the
    ciphertext. It cannot be filtered on (each encryption differs): search its blind index instead
    (alliance/households/selectors.py, `find_by_id_number` / `find_by_phone`)."""

    def __init__(self, purpose: str, max_length: int = 160, **kwargs: Any) -> None:
        self.purpose = purpose
        super().__init__(max_length=max_length, **kwargs)

    def describe(self, serializable: bool) -> dict:
        described = super().describe(serializable)
        return described

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if isinstance(instance, type) and value:
            # A filter (tortoise passes the model class): an equality on a ciphertext never matches.
            raise FilterOnEncryptedField(
                f"{self.purpose} is encrypted: look it up through its blind index, not a filter"
            )
        if value is None or value == "":
            return value
        return encrypt(self.purpose, str(value))

    def to_python_value(self, value: Any) -> Any:
        return decrypt(self.purpose, value)


class SealedJSONField(fields.JSONField):
    """A JSON record whose "id_number" and "phone" keys are stored encrypted."""

    def __init__(self, purpose: str, **kwargs: Any) -> None:
        self.purpose = purpose
        super().__init__(**kwargs)

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if isinstance(value, dict) and not isinstance(instance, type):
            value = seal_record(value, self.purpose)
        return super().to_db_value(value, instance)

    def to_python_value(self, value: Any) -> Any:
        return open_record(super().to_python_value(value), self.purpose)

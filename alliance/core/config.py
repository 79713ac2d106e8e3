"""Settings read from the environment, with defaults that work on a fresh laptop."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    https_only: bool
    default_language: str
    # Map tiles for the claim board's map, e.g. "/tiles/{z}/{x}/{y}.png" served by the same host
    # (the page's CSP allows images from 'self' only). Unset: markers on a blank map, no internet.
    tile_url: str | None = None
    # A transfer the holder does not answer is approved automatically after this many hours: the
    # default of regions that set none of their own (alliance/visits/region_settings.py).
    transfer_auto_approve_hours: int = 36
    # Reminder offsets (24 h, 2 h before a visit) are multiplied by this: 1 in production, e.g.
    # 0.001 for the bench and tests, so a day of reminders plays out in a minute and a half.
    reminder_time_scale: float = 1.0
    # Notification providers: "module:attr" for every channel, or "sms=module:attr,voice=module:attr";
    # unset: the log provider (no SMS or voice gateway is reachable here).
    notification_providers: str = ""
    # Sessions (alliance/core/sessions.py): one ends after this long without a request (idle), and
    # this long after login whatever happens (absolute). A password-reset link lives this long.
    session_idle_seconds: int = 2 * 3600
    session_absolute_seconds: int = 12 * 3600
    password_reset_seconds: int = 24 * 3600
    # ALLIANCE_METRICS_TOKEN: a caller sending `Authorization: Bearer <token>` may read /metrics and
    # the health details from anywhere; unset, only local addresses may (docs/operations.md).
    metrics_token: str = ""
    # /readyz fails when the oldest job or notification waiting in the outbox is older than this.
    ready_outbox_max_age_seconds: int = 300


def _secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one kept in data/ so every local process shares it."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret.key"
    if not path.exists():
        # Several processes may start at once: create exclusively, the loser reads the winner's key.
        # Owner-only (0600) from the first byte: the key signs every session and personal link.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    restrict_to_owner(path)
    return path.read_text().strip()


def restrict_to_owner(path: Path) -> None:
    """chmod 0600 a file holding secrets or personal data (a key file, the SQLite database), so
    other accounts on the machine cannot read it; a file made by an older release is tightened too."""
    try:
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass  # not ours to change (a read-only mount): the operator's permissions stand


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("ALLIANCE_DATA_DIR", DEFAULT_DATA_DIR))
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or f"sqlite://{data_dir / 'alliance.sqlite3'}",
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=_secret_key(data_dir),
        data_dir=data_dir,
        https_only=os.environ.get("ALLIANCE_HTTPS", "") in {"1", "true", "yes"},
        default_language=os.environ.get("ALLIANCE_LANGUAGE", "zh_CN"),
        tile_url=os.environ.get("TILE_URL") or None,
        transfer_auto_approve_hours=default_transfer_auto_approve_hours(),
        reminder_time_scale=reminder_time_scale(),
        notification_providers=os.environ.get("ALLIANCE_NOTIFICATION_PROVIDERS", ""),
        session_idle_seconds=_positive_int("ALLIANCE_SESSION_IDLE_MINUTES", 120) * 60,
        session_absolute_seconds=_positive_int("ALLIANCE_SESSION_MAX_HOURS", 12) * 3600,
        password_reset_seconds=_positive_int("ALLIANCE_PASSWORD_RESET_HOURS", 24) * 3600,
        metrics_token=os.environ.get("ALLIANCE_METRICS_TOKEN", ""),
        ready_outbox_max_age_seconds=int(os.environ.get("ALLIANCE_READY_OUTBOX_MAX_AGE_SECONDS") or 300),
    )


def default_transfer_auto_approve_hours() -> int:
    """TRANSFER_AUTO_APPROVE_HOURS (default 36): the hours of a region that sets none of its own."""
    return _positive_int("TRANSFER_AUTO_APPROVE_HOURS", 36)


def _positive_int(name: str, default: int) -> int:
    value = int(os.environ.get(name) or default)
    if value <= 0:
        raise ValueError(f"{name} must be a positive whole number")
    return value


def delivery_lease_seconds() -> float:
    """ALLIANCE_DELIVERY_LEASE_SECONDS: how long a worker may hold a notification it is handing to
    the gateway before another delivery takes it again (read on each use)."""
    value = float(os.environ.get("ALLIANCE_DELIVERY_LEASE_SECONDS") or 120)
    if value <= 0:
        raise ValueError("ALLIANCE_DELIVERY_LEASE_SECONDS must be positive")
    return value


@dataclass(frozen=True)
class PartnerApiRate:
    # A token bucket per partner API token: `per_minute` requests a minute on average, up to
    # `burst` at once.
    per_minute: int
    burst: int


def partner_api_rate() -> PartnerApiRate:
    """ALLIANCE_API_RATE_PER_MINUTE (60) and ALLIANCE_API_BURST (20), read on each use."""
    per_minute = int(os.environ.get("ALLIANCE_API_RATE_PER_MINUTE") or 60)
    burst = int(os.environ.get("ALLIANCE_API_BURST") or 20)
    if per_minute <= 0 or burst <= 0:
        raise ValueError("ALLIANCE_API_RATE_PER_MINUTE and ALLIANCE_API_BURST must be positive")
    return PartnerApiRate(per_minute, burst)


@dataclass(frozen=True)
class ChurnLimits:
    # More than `releases` releases by one partner within `window_minutes` pauses its claims for
    # `cooldown_minutes` and tells the coordinators over its region.
    releases: int
    window_minutes: int
    cooldown_minutes: int


def churn_limits() -> ChurnLimits:
    """ALLIANCE_CHURN_RELEASES (5), ALLIANCE_CHURN_WINDOW_MINUTES (60) and
    ALLIANCE_CHURN_COOLDOWN_MINUTES (120), read on each use."""
    limits = ChurnLimits(
        releases=int(os.environ.get("ALLIANCE_CHURN_RELEASES") or 5),
        window_minutes=int(os.environ.get("ALLIANCE_CHURN_WINDOW_MINUTES") or 60),
        cooldown_minutes=int(os.environ.get("ALLIANCE_CHURN_COOLDOWN_MINUTES") or 120),
    )
    if limits.releases < 0 or limits.window_minutes <= 0 or limits.cooldown_minutes <= 0:
        raise ValueError("ALLIANCE_CHURN_* must be positive")
    return limits


def reminder_batch_size() -> int:
    """ALLIANCE_REMINDER_BATCH: visit reminders the reminder sweep writes per transaction (200; read
    on each use). Smaller holds fewer rows per transaction, larger costs fewer round trips."""
    value = int(os.environ.get("ALLIANCE_REMINDER_BATCH") or 200)
    if value <= 0:
        raise ValueError("ALLIANCE_REMINDER_BATCH must be positive")
    return value


def reminder_time_scale() -> float:
    """ALLIANCE_REMINDER_TIME_SCALE, read on each use (cheap; no key file touched)."""
    value = float(os.environ.get("ALLIANCE_REMINDER_TIME_SCALE") or 1.0)
    if value <= 0:
        raise ValueError("ALLIANCE_REMINDER_TIME_SCALE must be positive")
    return value

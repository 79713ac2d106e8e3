"""Errors are values the user can act on; the edges turn them into pages, 4xx answers or row reports."""

from __future__ import annotations


class AllianceError(Exception):
    """Base for errors a service raises on purpose."""


class PermissionDenied(AllianceError):
    # `reason`: words for the user when there is more to say than "not allowed" (e.g. the
    # organisation is suspended).
    def __init__(self, action: str, object_label: str = "", reason: str | None = None) -> None:
        super().__init__(f"not allowed: {action} {object_label}".strip())
        self.action = action
        self.object_label = object_label
        self.reason = reason


class NotFound(AllianceError):
    pass


class InvalidInput(AllianceError):
    """One or more field errors: {field: message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class LoginThrottled(AllianceError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds

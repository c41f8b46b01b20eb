"""Typed errors shared by every outbound client.

Callers branch on the class, never on a message: transient errors are retried with
backoff, rate limits are retried after `retry_after`, permanent and auth errors are not.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Base class for every failure talking to a vendor API."""

    def __init__(self, message: str, *, status: int | None = None, vendor: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.vendor = vendor

    def __str__(self) -> str:
        prefix = f"{self.vendor} " if self.vendor else ""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{prefix}{code}{self.message}"


class TransientError(IntegrationError):
    """Worth retrying: timeouts, connection errors, 5xx, 423 (and Talkstack's 408/409)."""


class RateLimited(TransientError):
    """429: retry after `retry_after` seconds (None when the vendor gave no hint)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """A 4xx that a retry cannot fix (validation, not found, conflict of shape)."""


class ConflictError(PermanentError):
    """409: the write clashes with an existing record (a unique property value)."""


class UnknownPropertyError(PermanentError):
    """400 PROPERTY_DOESNT_EXIST: `properties` names what the account does not define."""

    def __init__(self, message: str, *, properties: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.properties = properties


class AuthError(PermanentError):
    """401/403: configuration is wrong; stop and alert rather than retry."""


class AmbiguousCallError(TransientError):
    """makeCall may or may not have dialled (timeout after sending): check before retrying."""

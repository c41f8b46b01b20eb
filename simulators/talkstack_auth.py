"""Bearer tokens for the Talkstack simulator: login, refresh (rotating), expiry, revocation."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime


def iso_z(epoch: float) -> str:
    """ISO-8601 with milliseconds and Z, the API's format for `expirationTime`."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class SimTokens:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (wall clock)
        self._refresh_tokens: set[str] = set()

    def issue(self) -> dict:
        """A new token pair: {"token", "refreshToken", "expirationTime"}."""
        token, refresh = secrets.token_hex(24), secrets.token_hex(24)
        expires = time.time() + self.ttl_seconds
        with self._lock:
            self._tokens[token] = expires
            self._refresh_tokens.add(refresh)
        return {"token": token, "refreshToken": refresh, "expirationTime": iso_z(expires)}

    def refresh(self, refresh_token: str) -> dict | None:
        """Rotate: the old refresh token is spent. None when it is unknown or spent."""
        with self._lock:
            if refresh_token not in self._refresh_tokens:
                return None
            self._refresh_tokens.discard(refresh_token)
        return self.issue()

    def is_valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and time.time() < expires

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._refresh_tokens.clear()

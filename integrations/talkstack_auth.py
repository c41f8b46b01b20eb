"""Talkstack credentials: a static x-api-key, or login → bearer token kept fresh (reference §2.2).

Tokens live 2 hours; they are refreshed shortly before `expirationTime`, and a failed
refresh falls back to a new login. Tokens and passwords never reach logs or messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from integrations.errors import AuthError, IntegrationError, PermanentError
from integrations.talkstack_models import parse_timestamp

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"
LOGIN_PATH = "/auth/login"
REFRESH_PATH = "/auth/refresh-token"
REFRESH_TOKEN_KEYS = ("refreshToken", "resfreshToken")  # the docs spell it both ways
DEFAULT_TOKEN_LIFETIME_SECONDS = 7200
REFRESH_MARGIN_SECONDS = 300

# post(path, json_body) -> parsed JSON body; raises the typed errors of integrations.errors.
PostJson = Callable[[str, dict], Any]


class ApiKeyAuth:
    renewable = False

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def headers(self) -> dict[str, str]:
        return {API_KEY_HEADER: self._api_key}

    def renew(self, rejected_headers: dict[str, str]) -> None:
        raise AssertionError("an API key cannot be renewed")

    def __repr__(self) -> str:
        return "ApiKeyAuth(<hidden>)"


class BearerAuth:
    """Thread-safe bearer token holder; one lock serialises login and refresh."""

    renewable = True

    def __init__(
        self, *, email: str, password: str, post: PostJson, clock: Callable[[], float] = time.time
    ) -> None:
        self._email = email
        self._password = password
        self._post = post
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._obtained_at = 0.0
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None:
                self._login()
            elif self._clock() >= self._expires_at - self._margin():
                self._refresh_or_login()
            return {"Authorization": f"Bearer {self._token}"}

    def renew(self, rejected_headers: dict[str, str]) -> None:
        """After a 401: get a new token unless another thread already replaced the rejected one."""
        with self._lock:
            if rejected_headers.get("Authorization") == f"Bearer {self._token}":
                self._refresh_or_login()

    def _margin(self) -> float:
        # Short-lived tokens (sandbox, tests) would otherwise be refreshed on every request.
        lifetime = max(self._expires_at - self._obtained_at, 0.0)
        return min(REFRESH_MARGIN_SECONDS, lifetime / 4)

    def _refresh_or_login(self) -> None:
        if self._refresh_token:
            try:
                self._refresh()
                return
            except IntegrationError as exc:
                log.info(
                    "talkstack: token refresh failed (%s), logging in again", type(exc).__name__
                )
        self._login()

    def _login(self) -> None:
        try:
            body = self._post(LOGIN_PATH, {"email": self._email, "password": self._password})
        except AuthError:
            raise
        except PermanentError as exc:
            # Login answers 400/404 for bad credentials or unknown users.
            raise AuthError("login rejected", status=exc.status, vendor="talkstack") from None
        self._store(body, "login")

    def _refresh(self) -> None:
        body = self._post(REFRESH_PATH, {"refreshToken": self._refresh_token})
        self._store(body, "refresh")

    def _store(self, body: Any, how: str) -> None:
        body = body if isinstance(body, dict) else {}
        if isinstance(body.get("data"), dict) and "token" not in body:
            body = body["data"]
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"{how} response carried no token", vendor="talkstack")
        now = self._clock()
        expires = parse_timestamp(body.get("expirationTime"))
        self._token = token
        self._refresh_token = next(
            (body[k] for k in REFRESH_TOKEN_KEYS if isinstance(body.get(k), str) and body[k]),
            self._refresh_token,
        )
        self._obtained_at = now
        self._expires_at = expires.timestamp() if expires else now + DEFAULT_TOKEN_LIFETIME_SECONDS
        log.info("talkstack: %s ok, token valid for %.0fs", how, self._expires_at - now)

"""HTTP transport for the Talkstack client: auth headers, one re-auth after a 401, typed
errors, retries, and the "may have dialled" rule for requests that place calls."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from integrations.errors import AmbiguousCallError, PermanentError, RateLimited, TransientError
from integrations.http import (
    RequestNotSent,
    call_with_retries,
    classify,
    translate_exception,
    url_path,
)
from integrations.talkstack_auth import ApiKeyAuth, BearerAuth

log = logging.getLogger(__name__)

VENDOR = "talkstack"


class TalkstackTransport:
    def __init__(
        self,
        *,
        session: requests.Session,
        timeout: float | tuple[float, float],
        max_retries: int,
        sleep: Callable[[float], object],
    ) -> None:
        self.session = session
        self.auth: ApiKeyAuth | BearerAuth | None = None  # set by the client
        self._timeout = timeout
        self._max_retries = max_retries
        self._sleep = sleep

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        """Parsed JSON body; transient failures retried with backoff."""
        return call_with_retries(
            lambda: self._send(method, url, **kwargs),
            max_retries=self._max_retries,
            sleep=self._sleep,
            label=f"talkstack {method} {url_path(url)}",
        )

    def call_dialling(self, method: str, url: str, **kwargs: Any) -> Any:
        """For requests that place calls: retry only failures proving nothing was accepted
        (no connection, 429, 401); any other failure after sending is AmbiguousCallError."""
        return call_with_retries(
            lambda: self._send(method, url, dialling=True, **kwargs),
            max_retries=self._max_retries,
            sleep=self._sleep,
            label=f"talkstack {method} {url_path(url)}",
        )

    def post_unauthenticated(self, url: str, body: dict) -> Any:
        """Login and refresh: no auth header, no retries of their own."""
        response = self._request("POST", url, {}, json=body)
        classify(response, VENDOR)
        return json_body(response)

    def _send(self, method: str, url: str, *, dialling: bool = False, **kwargs: Any) -> Any:
        """One request (plus one re-authenticated repeat after a 401 on a bearer token)."""
        headers = self.auth.headers()
        response = self._request(method, url, headers, dialling=dialling, **kwargs)
        if response.status_code == 401 and self.auth.renewable:
            self.auth.renew(headers)
            response = self._request(method, url, self.auth.headers(), dialling=dialling, **kwargs)
        try:
            classify(response, VENDOR)
        except TransientError as exc:
            if dialling and not isinstance(exc, RateLimited):
                raise ambiguous(exc) from exc
            raise
        return json_body(response, strict=not dialling)

    def _request(
        self, method: str, url: str, headers: dict, *, dialling: bool = False, **kwargs: Any
    ) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=self._timeout, **kwargs
            )
        except requests.RequestException as exc:
            error = translate_exception(exc, method, url, VENDOR)
            if dialling and not isinstance(error, RequestNotSent):
                error = ambiguous(error)
            raise error from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("talkstack %s %s -> %s in %.0f ms", method, url_path(url),
                  response.status_code, elapsed_ms)  # fmt: skip
        return response


def ambiguous(exc: TransientError) -> AmbiguousCallError:
    """The request reached Talkstack and may have dialled: the caller must check history."""
    return AmbiguousCallError(f"{exc.message} (may have dialled)", status=exc.status, vendor=VENDOR)


def json_body(response: requests.Response, *, strict: bool = True) -> Any:
    """Parsed JSON, or None for an empty body (message-only answers are fine).

    Not strict (calls that dial): an unreadable 2xx is None, so the caller sees "no call id"
    and reports the call as ambiguous instead of failed.
    """
    if not response.content or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        if not strict:
            return None
        raise PermanentError(
            f"{url_path(response.url)}: 2xx answer is not JSON",
            status=response.status_code,
            vendor=VENDOR,
        ) from None

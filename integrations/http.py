"""requests helpers shared by outbound clients: pooled sessions, status classification, retries.

Clients branch on the error class from `integrations.errors`, never on messages. Messages
carry the method, the URL path and a truncated response body; never headers or query
strings, which is where credentials live.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_exponential_jitter
from urllib3.exceptions import NewConnectionError

from integrations.errors import (
    AmbiguousCallError,
    AuthError,
    PermanentError,
    RateLimited,
    TransientError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

POOL_SIZE = 20
MAX_BODY_IN_MESSAGE = 300
AUTH_STATUSES = frozenset({401, 403})
# Timeouts, conflicts and locks are usually gone on the next try.
TRANSIENT_4XX = frozenset({408, 409, 423})
MAX_RETRY_AFTER_SECONDS = 30.0
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0


class RequestNotSent(TransientError):
    """The connection was never established, so the server saw nothing: always safe to retry."""


def build_session(user_agent: str, pool_size: int = POOL_SIZE) -> requests.Session:
    """A Session with a connection pool sized for a worker's threads and no hidden retries."""
    session = requests.Session()
    # max_retries=0: retries are ours (see call_with_retries) so non-idempotent calls stay single.
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def parse_retry_after(value: str | float | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def classify(response: requests.Response, vendor: str) -> None:
    """Return on 2xx; otherwise raise the typed error matching the HTTP status."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{_describe_request(response)}: {body_excerpt(response)}"
    if status in AUTH_STATUSES:
        raise AuthError(message, status=status, vendor=vendor)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(message, retry_after=retry_after, status=status, vendor=vendor)
    if status >= 500 or status in TRANSIENT_4XX:
        raise TransientError(message, status=status, vendor=vendor)
    raise PermanentError(message, status=status, vendor=vendor)


def body_excerpt(response: requests.Response, limit: int = MAX_BODY_IN_MESSAGE) -> str:
    """The response body on one line, cut to `limit` characters (for messages and logs)."""
    try:
        text = response.text or ""
    except (UnicodeDecodeError, LookupError):
        text = "<undecodable body>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_request(response: requests.Response) -> str:
    request = response.request
    if request is None:
        return "request"
    return f"{request.method} {url_path(request.url or '')}"


def url_path(url: str) -> str:
    """The path of a URL without its query string (queries may carry keys or personal data)."""
    return urlsplit(url).path or "/"


def translate_exception(exc: requests.RequestException, method: str, url: str, vendor: str):
    """Map a requests failure to RequestNotSent (nothing reached the server) or TransientError."""
    what = f"{method} {url_path(url)}"
    # str(exc) would repeat the full URL with its query string, so only the class is named.
    if nothing_was_sent(exc):
        return RequestNotSent(f"{what}: could not connect ({type(exc).__name__})", vendor=vendor)
    return TransientError(f"{what}: {type(exc).__name__}", vendor=vendor)


def nothing_was_sent(exc: BaseException) -> bool:
    """True when the failure happened while connecting, before any request byte was sent."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True  # no connection, or the TLS handshake failed: no HTTP request went out
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def is_retryable(exc: BaseException) -> bool:
    """Transient failures are retried; an ambiguous one may have had effects, so it is not."""
    return isinstance(exc, TransientError) and not isinstance(exc, AmbiguousCallError)


class WaitHonouringRetryAfter:
    """Wait what a 429 asked for (capped); otherwise exponential backoff with jitter."""

    def __init__(
        self,
        *,
        initial: float = BACKOFF_INITIAL_SECONDS,
        maximum: float = BACKOFF_MAX_SECONDS,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)
        self.max_retry_after = max_retry_after

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return self.backoff(state)


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_retries: int = 3,
    sleep: Callable[[float], object] = time.sleep,
    retryable: Callable[[BaseException], bool] = is_retryable,
    wait: Callable[[RetryCallState], float] | None = None,
    label: str = "request",
) -> T:
    """Run `fn`, retrying up to `max_retries` times on retryable errors; re-raise the last one."""
    retrying = Retrying(
        stop=stop_after_attempt(max(max_retries, 0) + 1),
        retry=_RetryIf(retryable),
        wait=wait or WaitHonouringRetryAfter(),
        sleep=sleep,
        reraise=True,
        before_sleep=_log_before_sleep(label),
    )
    return retrying(fn)


class _RetryIf:
    """tenacity retry predicate over the raised exception (results are never retried)."""

    def __init__(self, predicate: Callable[[BaseException], bool]) -> None:
        self.predicate = predicate

    def __call__(self, state: RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        return self.predicate(state.outcome.exception())


def _log_before_sleep(label: str) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        log.warning(
            "%s failed (attempt %d), retrying in %.2fs: %s", label, state.attempt_number, delay, exc
        )

    return log_it

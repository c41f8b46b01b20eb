"""Send one SDK call: rate limit, timeout, bounded retries, typed errors.

The SDK's own `retry=` never retries POST (urllib3's default allowed methods), so the
retries live here, where we know which calls are safe to replay.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import urllib3.exceptions as urllib3_errors
from hubspot.automation.actions.exceptions import ApiException as ActionsApiException
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.lists.exceptions import ApiException as ListsApiException
from hubspot.crm.objects.calls.exceptions import ApiException as CallsApiException
from hubspot.crm.objects.notes.exceptions import ApiException as NotesApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from integrations.errors import (
    AmbiguousCallError,
    AuthError,
    ConflictError,
    IntegrationError,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownPropertyError,
)

logger = logging.getLogger(__name__)

VENDOR = "HubSpot"
# Every generated SDK package defines its own ApiException; these are the ones we call.
API_EXCEPTIONS = (
    ActionsApiException,
    AssociationsApiException,
    ContactsApiException,
    ListsApiException,
    CallsApiException,
    NotesApiException,
    PropertiesApiException,
)
# Waits when a 429 carries no Retry-After, by the body's policyName (reference §5).
DEFAULT_RETRY_AFTER = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0, "DAILY": 3600.0}
MAX_INLINE_WAIT = 30.0  # longer waits go back to the queue instead of blocking a worker
LOCKED_MIN_WAIT = 2.0  # 423 Locked: "wait at least 2 s"
MAX_MESSAGE_CHARS = 300


class _RedactHapikey(logging.Filter):
    """urllib3 logs request lines at DEBUG; developer keys travel in the query string."""

    _PATTERN = re.compile(r"(hapikey=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "hapikey=" in message:
            record.msg, record.args = self._PATTERN.sub(r"\1***", message), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactHapikey())


def _error_body(exc) -> dict:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _header(headers, name: str) -> str | None:
    if not headers:
        return None
    return headers.get(name) or headers.get(name.lower())


def _retry_after_seconds(headers, body: dict) -> float:
    raw = _header(headers, "Retry-After")
    if raw:
        try:
            return max(float(raw), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(raw).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    return DEFAULT_RETRY_AFTER.get(body.get("policyName", ""), 10.0)


def api_error(operation: str, exc) -> IntegrationError:
    """Map an SDK ApiException to our hierarchy; never its str(), which dumps headers."""
    status = exc.status or 0
    body = _error_body(exc)
    category = body.get("category") or body.get("errorType") or exc.reason or "error"
    category = " ".join(str(category).split())[:MAX_MESSAGE_CHARS]  # SSL reasons span lines
    text = str(body.get("message") or "")[:MAX_MESSAGE_CHARS]
    correlation = f" (correlationId {body['correlationId']})" if body.get("correlationId") else ""
    message = f"{operation}: {category}: {text}{correlation}"
    kwargs = {"status": status or None, "vendor": VENDOR}
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=_retry_after_seconds(exc.headers, body), **kwargs)
    if status == 0 or status == 423 or status >= 500:
        return TransientError(message, **kwargs)
    if status == 409:
        return ConflictError(message, **kwargs)
    unknown = _unknown_properties(body)
    if status == 400 and unknown:
        return UnknownPropertyError(message, properties=unknown, **kwargs)
    return PermanentError(message, **kwargs)


def _unknown_properties(body: dict) -> tuple[str, ...]:
    """Property names of PROPERTY_DOESNT_EXIST entries in a 400 body."""
    names: list[str] = []
    for error in body.get("errors") or []:
        if isinstance(error, dict) and error.get("code") == "PROPERTY_DOESNT_EXIST":
            context = error.get("context") if isinstance(error.get("context"), dict) else {}
            names += [str(n) for n in context.get("propertyName") or []]
    return tuple(names)


def transport_error(operation: str, exc: Exception, replay_safe: bool) -> IntegrationError:
    """Map urllib3 failures; str(exc) is never used because it can carry the URL (hapikey)."""
    if isinstance(exc, urllib3_errors.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3_errors.ConnectTimeoutError):  # NewConnectionError included
        return TransientError(f"{operation}: could not connect", vendor=VENDOR)
    kind = "timed out" if isinstance(exc, urllib3_errors.TimeoutError) else "connection broke"
    if replay_safe:
        return TransientError(f"{operation}: {kind}", vendor=VENDOR)
    return AmbiguousCallError(
        f"{operation}: {kind} after sending; not retried because it may have been applied",
        vendor=VENDOR,
    )


def require_response(response, operation: str):
    """The SDK returns None for any 2xx status it does not expect for the operation."""
    if response is None:
        raise PermanentError(f"{operation}: unexpected response status", vendor=VENDOR)
    return response


class HubSpotTransport:
    def __init__(self, *, rate_limiter, timeout, max_retries: int, sleep: Callable,
                 on_request: Callable[[str], None] | None = None) -> None:
        self.rate_limiter = rate_limiter
        self._on_request = on_request or (lambda _status: None)
        self.timeout = timeout
        self.max_retries = max_retries
        self._sleep = sleep

    def call(self, operation: str, method, *args, replay_safe: bool = True, tally=None, **kwargs):
        """Run `method(*args, **kwargs)` with retries; `tally.requests` counts HTTP attempts.

        `replay_safe=False` marks creates: a timeout after the request left may have
        created the records, so it raises AmbiguousCallError instead of retrying.
        429 and 5xx responses are retried either way (HubSpot did not apply them).
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception(self._should_retry),
            wait=self._wait_seconds,
            sleep=self._sleep,
            before_sleep=lambda state: logger.warning(
                "HubSpot %s attempt %d failed (%s); retrying in %.2fs",
                operation,
                state.attempt_number,
                state.outcome.exception(),
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        return retrying(self._send_once, operation, method, args, kwargs, replay_safe, tally)

    def _send_once(self, operation, method, args, kwargs, replay_safe, tally):
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        if tally is not None:
            tally.requests += 1
        try:
            response = method(*args, _request_timeout=self.timeout, **kwargs)
        except API_EXCEPTIONS as exc:
            error = api_error(operation, exc)
            self._on_request(str(getattr(exc, "status", "") or "error"))
        except AttributeError as exc:
            # SDK bug: for a failure with no response (an SSL error) its api_client calls
            # `e.body.decode()` on None while handling the ApiException it raised; that
            # exception, being handled, is the real error.
            if not isinstance(exc.__context__, API_EXCEPTIONS):
                raise
            error = api_error(operation, exc.__context__)
            self._on_request("connection_error")
        except urllib3_errors.HTTPError as exc:
            error = transport_error(operation, exc, replay_safe)
            self._on_request("timeout" if isinstance(exc, urllib3_errors.TimeoutError)
                             else "connection_error")
        else:
            self._on_request("ok")
            return response
        if isinstance(error, RateLimited) and self.rate_limiter is not None:
            self.rate_limiter.pause(error.retry_after)
        raise error  # outside the except blocks: no chained SDK exception (headers, URL)

    @staticmethod
    def _should_retry(exc: BaseException) -> bool:
        if isinstance(exc, AmbiguousCallError):
            return False
        if isinstance(exc, RateLimited):
            return exc.retry_after <= MAX_INLINE_WAIT
        return isinstance(exc, TransientError)

    @staticmethod
    def _wait_seconds(state) -> float:
        exc = state.outcome.exception()
        if isinstance(exc, RateLimited):
            return exc.retry_after
        backoff = min(0.5 * 2 ** (state.attempt_number - 1), 8.0) * random.uniform(0.5, 1.0)
        if getattr(exc, "status", None) == 423:
            return max(backoff, LOCKED_MIN_WAIT)
        return backoff

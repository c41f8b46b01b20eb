"""HubSpot simulator plumbing: error bodies, auth, rate limits, faults and recording.

Every API request is recorded (rejected ones too, with their status); `/_sim/*` control
requests are neither authenticated nor recorded.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

CONTROL_PREFIX = "/_sim/"
SEARCH_SUFFIX = "/search"
# Developer-account endpoints authenticate with ?hapikey=, everything else with Bearer.
DEVELOPER_PREFIX = "/automation/v4/actions/"
BEARER_UNDER_DEVELOPER_PREFIX = "/automation/v4/actions/callbacks/"

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
HAPIKEY_MESSAGE = "The API key provided is invalid. View or manage your API key here: https://app.hubspot.com/l/api-key/"
# Injected faults answer with HubSpot-like bodies: status -> (category, message).
FAULT_BODIES = {
    400: ("VALIDATION_ERROR", "Invalid input (injected fault)"),
    401: ("INVALID_AUTHENTICATION", AUTH_MESSAGE),
    403: ("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
    404: ("OBJECT_NOT_FOUND", "resource not found"),
    409: ("CONFLICT", "Conflict (injected fault)"),
    423: ("LOCKED", "The resource is locked; try again in a few seconds."),
    500: ("INTERNAL_ERROR", "internal error"),
    502: ("BAD_GATEWAY", "bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "service unavailable"),
    504: ("GATEWAY_TIMEOUT", "gateway timeout"),
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimError(Exception):
    """Raised by route handlers; rendered as HubSpot's standard error body."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR", **extra):
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra


def unknown_properties_error(names: list[str]) -> SimError:
    """HubSpot's 400 for writing (or looking up by) properties the account does not define."""
    return SimError(
        400,
        f"Property values were not valid: {', '.join(names)} do(es) not exist",
        errors=[
            {
                "message": f'Property "{n}" does not exist',
                "code": "PROPERTY_DOESNT_EXIST",
                "context": {"propertyName": [n]},
            }
            for n in names
        ],
    )


def error_response(status: int, message: str, category: str, **extra):
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    return response


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict  # Authorization and hapikey values redacted
    json: object
    status: int | None = None
    at: float = field(default_factory=time.time)  # arrival, epoch seconds


class RollingWindow:
    """HubSpot's rolling limit: at most `limit` accepted requests in any `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float) -> tuple[bool, int, float]:
        """(accepted, remaining, seconds until a slot frees)."""
        with self._lock:
            while self._stamps and self._stamps[0] <= now - self.window:
                self._stamps.popleft()
            if len(self._stamps) >= self.limit:
                return False, 0, self._stamps[0] + self.window - now
            self._stamps.append(now)
            return True, self.limit - len(self._stamps), 0.0


@dataclass
class Fault:
    remaining: int
    status: int | str  # an HTTP status, or "timeout"
    path_prefix: str | None
    delay: float  # "timeout": how long to stall; 429: the Retry-After value
    apply: bool  # "timeout": still perform the request (an ambiguous write) before stalling


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


def _redacted_headers() -> dict:
    headers = dict(request.headers)
    if "Authorization" in headers:
        headers["Authorization"] = "<redacted>"
    return headers


def _redacted_query() -> dict:
    """Query parameters (a list when repeated) with the developer key hidden."""
    query = {}
    for name, values in request.args.lists():
        values = ["<redacted>"] * len(values) if name == "hapikey" else values
        query[name] = values[0] if len(values) == 1 else values
    return query


def _authenticate(sim):
    path = request.path
    if path.startswith(DEVELOPER_PREFIX) and not path.startswith(BEARER_UNDER_DEVELOPER_PREFIX):
        if request.args.get("hapikey") != sim.developer_api_key:
            return error_response(401, HAPIKEY_MESSAGE, "INVALID_AUTHENTICATION")
        return None
    if request.headers.get("Authorization") != f"Bearer {sim.access_token}":
        return error_response(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
    return None


def rate_limit_response(sim, is_search: bool, retry_after: float):
    """HubSpot's 429: the search API has a per-second policy, the rest a rolling one."""
    if is_search:
        response = error_response(
            429,
            "You have reached your secondly limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="SECONDLY",
        )
    else:
        response = error_response(
            429,
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
            groupName=sim.rate_group,
        )
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _rate_limited(sim, is_search: bool):
    window = sim._search_window if is_search else sim._window
    if window is None:
        return None
    accepted, remaining, wait = window.admit(time.time())
    g.rate_remaining = remaining
    return None if accepted else rate_limit_response(sim, is_search, wait)


def _injected_fault(sim, is_search: bool):
    fault = sim._faults.take(request.path)
    if fault is None:
        return None
    if fault.status == 429:
        return rate_limit_response(sim, is_search, fault.delay)
    if fault.status != "timeout":
        category, message = FAULT_BODIES.get(int(fault.status), ("ERROR", "injected fault"))
        return error_response(int(fault.status), message, category)
    if fault.apply:
        g.stall = fault.delay  # run the handler, then stall before answering
        return None
    time.sleep(fault.delay)
    return error_response(504, "gateway timeout", "GATEWAY_TIMEOUT")


def install_hooks(app: Flask, sim) -> None:
    @app.before_request
    def guard():
        if request.path.startswith(CONTROL_PREFIX):
            return None
        g.record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=_redacted_query(),
            headers=_redacted_headers(),
            json=request.get_json(silent=True),
        )
        g.is_search = request.path.endswith(SEARCH_SUFFIX)
        return (
            _authenticate(sim)
            or _rate_limited(sim, g.is_search)
            or _injected_fault(sim, g.is_search)
        )

    @app.after_request
    def finish(response):
        record = g.pop("record", None)
        if record is None:
            return response
        if g.get("stall"):
            time.sleep(g.stall)
        window = sim._window
        if window is not None and not g.is_search:
            response.headers["X-HubSpot-RateLimit-Max"] = str(window.limit)
            response.headers["X-HubSpot-RateLimit-Remaining"] = str(g.get("rate_remaining", 0))
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                int(window.window * 1000)
            )
        record.status = response.status_code
        sim._record(record)
        return response

    @app.errorhandler(SimError)
    def sim_error(exc: SimError):
        return error_response(exc.status, exc.message, exc.category, **exc.extra)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        category = "OBJECT_NOT_FOUND" if exc.code == 404 else "VALIDATION_ERROR"
        return error_response(exc.code or 500, exc.description or exc.name, category)

    @app.errorhandler(Exception)
    def crash(exc: Exception):
        app.logger.exception("HubSpot simulator error")
        return error_response(500, "internal error", "INTERNAL_ERROR")


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SimError(400, "Invalid input JSON: expected an object")
    return body


def batch_inputs(body: dict, limit: int = 100) -> list:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise SimError(400, "Invalid input JSON: 'inputs' must be an array")
    if len(inputs) > limit:
        raise SimError(
            400,
            f"Batch input limit exceeded: {len(inputs)} inputs, maximum {limit}",
            errors=[{"message": f"size must be between 0 and {limit}", "in": "inputs"}],
        )
    return inputs

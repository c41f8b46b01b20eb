"""Flask glue around the pure signature functions: raw body, public URI, clock."""

from __future__ import annotations

import hmac
import time

from flask import current_app, request

import metrics
from errors import ApiError
from webhooks.signatures import SignatureError, verify_request


def runtime():
    return current_app.extensions["connector"]


def public_uri() -> str:
    """The URI HubSpot signed: PUBLIC_BASE_URL + path + the query string as sent."""
    base = runtime().settings.public_base_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def raw_body() -> bytes:
    return request.get_data(cache=True)


def verify_hubspot(source: str, versions: tuple[str, ...] = ("v1", "v2", "v3")) -> str:
    """Verify the current request's HubSpot signature or raise a 401 ApiError."""
    settings = runtime().settings
    try:
        return verify_request(
            secrets=[settings.hubspot_client_secret],
            headers=request.headers,
            method=request.method,
            uri=public_uri(),
            body=raw_body(),
            now_ms=int(time.time() * 1000),
            allowed_versions=versions,
        )
    except SignatureError as exc:
        metrics.EVENTS_REJECTED.labels(source, exc.reason).inc()
        raise ApiError(401, "invalid_signature", exc.message) from None


def bearer_matches(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, offered = header.partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(offered)
        and hmac.compare_digest(offered.strip().encode(), token.encode())
    )


def reject(source: str, status: int, code: str, message: str) -> ApiError:
    metrics.EVENTS_REJECTED.labels(source, code).inc()
    return ApiError(status, code, message)

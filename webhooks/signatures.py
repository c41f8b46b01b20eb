"""HubSpot request signatures (v1, v2, v3) as pure functions.

No Flask here: callers pass the raw body bytes, the public URI and the clock, so every
rule can be tested against HubSpot's published vectors. See reference/hubspot.md §2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

MAX_SKEW_MS = 300_000

# v3 decodes exactly these escapes in the URI before hashing; every other escape stays.
V3_DECODED_ESCAPES = {
    "3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
    "27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";",
}  # fmt: skip
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_EPOCH_MS = re.compile(r"[0-9]{1,16}")


class SignatureError(Exception):
    """The request is not provably from HubSpot; `reason` is a short metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def v3_uri(uri: str) -> str:
    """Apply HubSpot's v3 URI-decoding rule."""
    return _ESCAPE.sub(lambda m: V3_DECODED_ESCAPES.get(m.group(1).upper(), m.group(0)), uri)


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    message = secret.encode() + method.upper().encode() + uri.encode() + body
    return hashlib.sha256(message).hexdigest()


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + v3_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _matches(expected: str, offered: str) -> bool:
    return hmac.compare_digest(expected.encode(), offered.encode())


def check_timestamp(timestamp: str | None, now_ms: int, max_skew_ms: int = MAX_SKEW_MS) -> None:
    if not timestamp:
        raise SignatureError("missing_timestamp", "X-HubSpot-Request-Timestamp is missing")
    if not _EPOCH_MS.fullmatch(timestamp):
        raise SignatureError("bad_timestamp", "X-HubSpot-Request-Timestamp is not epoch millis")
    skew = now_ms - int(timestamp)
    if skew > max_skew_ms:
        raise SignatureError("stale_timestamp", "request timestamp is older than 5 minutes")
    if skew < -max_skew_ms:
        raise SignatureError("future_timestamp", "request timestamp is in the future")


def verify_request(
    *,
    secrets: Iterable[str],
    headers: dict[str, str],
    method: str,
    uri: str,
    body: bytes,
    now_ms: int,
    allowed_versions: tuple[str, ...] = ("v1", "v2", "v3"),
) -> str:
    """Verify a HubSpot request; return the version that matched or raise SignatureError.

    `headers` must look up names case-insensitively (a Werkzeug Headers object does).
    `secrets` is a list (several allow rotation); a bare string is taken as one secret.
    v3 is used whenever its header is present; else `X-HubSpot-Signature` with its version.
    """
    secrets = [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
    v3 = headers.get("X-HubSpot-Signature-v3")
    if v3 is not None and "v3" in allowed_versions:
        timestamp = headers.get("X-HubSpot-Request-Timestamp")
        check_timestamp(timestamp, now_ms)
        if any(_matches(sign_v3(s, method, uri, body, timestamp), v3) for s in secrets):
            return "v3"
        raise SignatureError("bad_signature", "X-HubSpot-Signature-v3 does not match")
    offered = headers.get("X-HubSpot-Signature")
    if offered is None:
        raise SignatureError("missing_signature", "no HubSpot signature header")
    version = (headers.get("X-HubSpot-Signature-Version") or "v1").lower()
    if version not in ("v1", "v2") or version not in allowed_versions:
        raise SignatureError("bad_version", f"signature version {version!r} is not accepted")
    for secret in secrets:
        expected = sign_v1(secret, body) if version == "v1" else sign_v2(secret, method, uri, body)
        if _matches(expected, offered.lower()):
            return version
    raise SignatureError("bad_signature", "X-HubSpot-Signature does not match")


def signed_headers(
    secret: str, version: str, method: str, uri: str, body: bytes, now_ms: int
) -> dict[str, str]:
    """Headers HubSpot would send; used by the simulator and the tests."""
    if version == "v3":
        ts = str(now_ms)
        return {
            "X-HubSpot-Signature-v3": sign_v3(secret, method, uri, body, ts),
            "X-HubSpot-Request-Timestamp": ts,
        }
    sig = sign_v1(secret, body) if version == "v1" else sign_v2(secret, method, uri, body)
    return {"X-HubSpot-Signature": sig, "X-HubSpot-Signature-Version": version}

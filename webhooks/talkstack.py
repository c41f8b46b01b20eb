"""Talkstack call-status webhook. Talkstack documents no payload and no signature: the
secret path token is the only authentication, and the payload is only a hint — the
worker confirms the outcome with Get call data."""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, request

import metrics
from webhooks import ledger
from webhooks.hubspot import enqueue_events
from webhooks.verify import raw_body, reject, runtime

bp = Blueprint("talkstack_webhooks", __name__)

SOURCE = "talkstack"
CALL_ID_KEYS = ("callSid", "sid", "call_id", "CallSid")
STATUS_KEYS = ("status", "CallStatus", "callStatus")


def parse_body(body: bytes, content_type: str) -> dict:
    """JSON or form or empty; anything unparseable is kept raw and yields {}."""
    if "form" in content_type:
        return {k: v for k, v in request.form.items()}
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def first_value(payload: dict, keys: tuple[str, ...]) -> str | None:
    """The first non-empty value under `keys`, at the top level or nested under `call`."""
    nested = payload.get("call") if isinstance(payload.get("call"), dict) else {}
    for container in (payload, nested):
        for key in keys:
            value = container.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    return None


@bp.post("/webhooks/talkstack/<token>")
def call_status(token: str):
    expected = runtime().settings.talkstack_webhook_token
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise reject(SOURCE, 404, "not_found", "not found")
    body = raw_body()
    payload = parse_body(body, request.content_type or "")
    call_id = first_value(payload, CALL_ID_KEYS)
    status = first_value(payload, STATUS_KEYS)
    digest = hashlib.sha256(body).hexdigest()
    item = ledger.IncomingItem(
        dedupe_key=f"{call_id}:{digest}" if call_id else f"unmatched:{digest}",
        raw_body=body,
        payload={"callId": call_id, "status": status},
        content_type=request.content_type,
        state="pending" if call_id else "unmatched",
    )
    new_ids = ledger.record(runtime().db, SOURCE, [item])
    metrics.EVENTS_RECEIVED.labels(SOURCE).inc()
    enqueue_events(new_ids)
    return "", 204

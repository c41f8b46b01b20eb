"""HubSpot app webhooks and the workflow "Send a webhook" action.

verify → parse → record (deduplicated) → enqueue → 204. Nothing here calls HubSpot or
Talkstack: the worker decides whom to call.
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, request
from marshmallow import ValidationError

import metrics
from webhooks import ledger
from webhooks.schemas import HubSpotEventSchema, validation_message
from webhooks.verify import bearer_matches, raw_body, reject, runtime, verify_hubspot

bp = Blueprint("hubspot_webhooks", __name__)
log = logging.getLogger(__name__)

APP_SOURCE = "hubspot_app"
WORKFLOW_SOURCE = "hubspot_workflow"
# HubSpot's eventId is not unique; this composite is (reference/hubspot.md §1.4).
DEDUPE_FIELDS = (
    "portalId",
    "subscriptionId",
    "eventId",
    "objectId",
    "occurredAt",
    "propertyName",
    "propertyValue",
)
CONTACT_ID_KEYS = ("objectId", "hs_object_id", "vid")
CORRELATION_HEADER = "X-HubSpot-Correlation-Id"
_event_schema = HubSpotEventSchema(many=True)


def event_dedupe_key(event: dict) -> str:
    parts = "|".join("" if event.get(f) is None else str(event.get(f)) for f in DEDUPE_FIELDS)
    return hashlib.sha256(parts.encode()).hexdigest()


def parse_json(source: str):
    try:
        return json.loads(raw_body())
    except (ValueError, UnicodeDecodeError):
        raise reject(source, 400, "malformed_json", "request body is not valid JSON") from None


def enqueue_events(event_ids: list[int]) -> None:
    """One wake-up per delivery, however many events it carried."""
    if not event_ids:
        return
    try:
        runtime().enqueue("process_events", event_ids)
    except Exception:  # durable already; the sweeper will pick them up
        log.warning("queue unavailable; events %s left for the sweeper", event_ids)


@bp.post("/webhooks/hubspot")
def app_webhook():
    verify_hubspot(APP_SOURCE)
    body = parse_json(APP_SOURCE)
    if not isinstance(body, list):
        raise reject(APP_SOURCE, 400, "invalid_payload", "expected a JSON array of events")
    try:
        events = _event_schema.load(body)
    except ValidationError as exc:
        raise reject(APP_SOURCE, 400, "invalid_payload", validation_message(exc)) from None
    items = [
        ledger.IncomingItem(
            dedupe_key=event_dedupe_key(event),
            raw_body=json.dumps(original, separators=(",", ":")).encode(),
            payload={**event, "subscriptionType": event["subscriptionType"] or event["eventType"]},
            content_type="application/json",
        )
        for event, original in zip(events, body, strict=True)
    ]
    new_ids = ledger.record(runtime().db, APP_SOURCE, items)
    metrics.EVENTS_RECEIVED.labels(APP_SOURCE).inc(len(items))
    enqueue_events(new_ids)
    return "", 204


def contact_id_from(body: dict) -> str | None:
    """objectId, else hs_object_id (top level or under properties), else vid."""
    properties = body.get("properties") if isinstance(body.get("properties"), dict) else {}
    for key in CONTACT_ID_KEYS:
        for container in (body, properties):
            value = container.get(key)
            if isinstance(value, dict):  # legacy shape: {"value": "123"}
                value = value.get("value")
            if isinstance(value, bool) or value in (None, ""):
                continue
            text = str(value).strip()
            if text.isdigit() and int(text) > 0:
                return text
    return None


@bp.post("/webhooks/hubspot/workflow")
def workflow_webhook():
    settings = runtime().settings
    if not bearer_matches(settings.api_token):
        verify_hubspot(WORKFLOW_SOURCE, versions=("v2", "v3"))
    body = parse_json(WORKFLOW_SOURCE)
    if not isinstance(body, dict):
        raise reject(WORKFLOW_SOURCE, 400, "invalid_payload", "expected one JSON object")
    contact_id = contact_id_from(body)
    if contact_id is None:
        raise reject(
            WORKFLOW_SOURCE,
            400,
            "invalid_payload",
            "no contact id (objectId, hs_object_id or vid) in the body",
        )
    correlation = request.headers.get(CORRELATION_HEADER, "").strip()
    dedupe = (
        f"corr:{correlation}" if correlation else "body:" + hashlib.sha256(raw_body()).hexdigest()
    )
    item = ledger.IncomingItem(
        dedupe_key=dedupe,
        raw_body=raw_body(),
        payload={"contactId": contact_id},
        content_type="application/json",
    )
    new_ids = ledger.record(runtime().db, WORKFLOW_SOURCE, [item])
    metrics.EVENTS_RECEIVED.labels(WORKFLOW_SOURCE).inc()
    enqueue_events(new_ids)
    return "", 204

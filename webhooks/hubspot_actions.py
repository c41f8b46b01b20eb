"""The custom workflow action "Call with Talkstack AI": execution and agent options.

Execution answers BLOCK at once; the worker places the call and completes the callback
when the last attempt is final. Options come from the agents the worker cached, so this
request never waits on Talkstack.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import Blueprint, jsonify
from marshmallow import ValidationError
from sqlalchemy import select

import metrics
from jobs.agents import AGENTS_CACHE_KEY
from store.clock import utcnow
from store.models import CachedValue
from webhooks import ledger
from webhooks.hubspot import enqueue_events, parse_json
from webhooks.schemas import ActionExecutionSchema, OptionsRequestSchema, validation_message
from webhooks.verify import reject, runtime, verify_hubspot

bp = Blueprint("hubspot_actions", __name__)

log = logging.getLogger(__name__)
SOURCE = "hubspot_action"
# Agents added in Talkstack show up in the dropdown once the cache is older than this.
AGENTS_MAX_AGE = timedelta(minutes=10)
BLOCK = {"outputFields": {"hs_execution_state": "BLOCK"}}


def _load(schema, body, source):
    if not isinstance(body, dict):
        raise reject(source, 400, "invalid_payload", "expected one JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise reject(source, 400, "invalid_payload", validation_message(exc)) from None


@bp.post("/webhooks/hubspot/actions/call")
def execute_call_action():
    verify_hubspot(SOURCE, versions=("v2", "v3"))
    execution = _load(ActionExecutionSchema(), parse_json(SOURCE), SOURCE)
    inputs = {k: ("" if v is None else str(v)) for k, v in execution["inputFields"].items()}
    payload = {
        "callbackId": execution["callbackId"],
        "contactId": str(execution["object"]["objectId"]),
        "agentId": inputs.get("agentId", "").strip() or None,
        "variables": inputs.get("variables", ""),
    }
    item = ledger.IncomingItem(dedupe_key=execution["callbackId"],
                               raw_body=json.dumps(execution).encode(), payload=payload,
                               content_type="application/json")
    enqueue_events(ledger.record(runtime().db, SOURCE, [item]))
    metrics.EVENTS_RECEIVED.labels(SOURCE).inc()
    return jsonify(BLOCK)


def cached_agents() -> tuple[list[dict], bool]:
    """(the cached agents, whether the cache is missing or stale)."""
    with runtime().db.session() as session:
        cached = session.scalar(select(CachedValue).where(CachedValue.key == AGENTS_CACHE_KEY))
    if cached is None:
        return [], True
    return list(cached.value), utcnow() - cached.updated_at > AGENTS_MAX_AGE


def _ask_for_agents() -> None:
    try:
        runtime().enqueue("refresh_agents")
    except Exception:  # the dropdown still answers; the next request asks again
        log.warning("queue unavailable; agent list not refreshed")


@bp.post("/webhooks/hubspot/actions/options/agents")
def agent_options():
    verify_hubspot("hubspot_options", versions=("v2", "v3"))
    request_body = _load(OptionsRequestSchema(), parse_json("hubspot_options"), "hubspot_options")
    agents, stale = cached_agents()
    if stale:
        _ask_for_agents()  # the worker fetches them; this request never waits on Talkstack
    if not agents:
        default = runtime().settings.talkstack_agent_id
        agents = [{"id": default, "name": f"Default agent ({default})"}]
    query = str(request_body["fetchOptions"].get("q") or "").strip().lower()
    options = [{"label": a["name"] or a["id"], "value": a["id"]} for a in agents
               if not query or query in (a["name"] or "").lower()]
    return jsonify({"options": options, "searchable": True})

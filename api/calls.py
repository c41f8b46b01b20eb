"""POST /api/calls and GET /api/calls/<id>."""

from __future__ import annotations

import uuid

from flask import current_app, jsonify, request

from api import bp
from api.schemas import CallCreateSchema, load_body
from errors import ApiError
from store.models import CallRequest


def runtime():
    return current_app.extensions["connector"]


def json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_body", "request body must be JSON")
    return body


def start_call(rt, contact_id: str, agent_id: str | None, variables: dict, trigger: str) -> int:
    """Record a call request for the worker (also used by `flask connector call`)."""
    from jobs.events import create_request

    key = f"{trigger}:{uuid.uuid4().hex}"
    create_request(
        rt,
        trigger=trigger,
        trigger_key=key,
        contact_id=contact_id,
        agent_id=agent_id,
        variables=variables,
    )
    with rt.db.session() as session:
        return session.query(CallRequest.id).filter_by(trigger_key=key).scalar()


@bp.post("/calls")
def create_call():
    body = load_body(CallCreateSchema(), json_body())
    request_id = start_call(runtime(), body["contactId"], body["agentId"], body["variables"], "api")
    return jsonify({"id": request_id}), 202


def call_view(request_row: CallRequest) -> dict:
    latest = request_row.calls[-1] if request_row.calls else None
    return {
        "id": request_row.id,
        "contactId": request_row.contact_id,
        "trigger": request_row.trigger,
        "state": request_row.state,
        "reason": request_row.reason,
        "attempts": request_row.attempts,
        "talkstackCallId": latest.talkstack_call_id if latest else None,
        "status": latest.status if latest else None,
        "outcome": latest.outcome if latest else None,
        "hubspotCallId": latest.hubspot_call_id if latest else None,
    }


@bp.get("/calls/<int:request_id>")
def get_call(request_id: int):
    with runtime().db.session() as session:
        row = session.get(CallRequest, request_id)
        if row is None:
            raise ApiError(404, "not_found", f"no call request {request_id}")
        return jsonify(call_view(row))

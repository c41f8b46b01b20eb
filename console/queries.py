"""Database reads for the calls pages, returned as plain dicts for the templates."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from store.models import BatchRow, Call, CallRequest, HubSpotWrite, InboundEvent

PAGE_SIZE = 50
REQUEST_FIELDS = ("id", "created_at", "updated_at", "trigger", "trigger_key", "contact_id",
                  "agent_id", "state", "reason", "number", "attempts", "failures", "not_before",
                  "last_error", "callback_id", "callback_state", "inbound_event_id",
                  "batch_row_id")
CALL_FIELDS = ("id", "talkstack_call_id", "call_request_id", "batch_row_id", "attempt",
               "contact_id", "match", "agent_id", "to_number", "from_number", "status",
               "is_final", "outcome", "seconds", "started_at", "analysis", "hubspot_call_id",
               "checks", "next_check_at", "finalized_at", "last_error", "created_at")
WRITE_FIELDS = ("id", "kind", "object_key", "call_id", "call_request_id", "payload", "state",
                "attempts", "not_before", "last_error", "result", "sent_at", "created_at")
EVENT_FIELDS = ("id", "source", "dedupe_key", "content_type", "payload", "state", "attempts",
                "last_error", "created_at", "processed_at")


def as_dict(row, names) -> dict:
    return {name: getattr(row, name) for name in names}


def request_name(request) -> str:
    return contact_name(request.dial_variables or request.variables)


def contact_name(variables: dict | None) -> str:
    """The contact's name as the dial step read it from HubSpot (CRM data: escape it)."""
    variables = variables or {}
    parts = [str(variables.get(k) or "").strip() for k in ("firstname", "lastname")]
    return " ".join(p for p in parts if p)


def recording_url(call: Call) -> str | None:
    urls = (call.record or {}).get("recordingUrls") or []
    first = urls[0] if urls and isinstance(urls[0], str) else None
    return first if first and first.startswith("https://") else None  # never a javascript: link


def call_view(call: Call) -> dict:
    return {**as_dict(call, CALL_FIELDS), "recording_url": recording_url(call)}


def request_counts(session) -> dict[str, int]:
    rows = session.execute(select(CallRequest.state, func.count()).group_by(CallRequest.state))
    return dict(rows.all())


def recent_requests(session, before: int | None = None, limit: int = PAGE_SIZE) -> list[dict]:
    query = select(CallRequest).order_by(CallRequest.id.desc()).limit(limit)
    if before is not None:
        query = query.where(CallRequest.id < before)
    requests = list(session.scalars(query))
    latest = _latest_calls(session, [r.id for r in requests])
    views = []
    for request in requests:
        call = latest.get(request.id)
        views.append({**as_dict(request, REQUEST_FIELDS), "name": request_name(request),
                      "call": call_view(call) if call else None})
    return views


def _latest_calls(session, request_ids: list[int]) -> dict[int, Call]:
    latest: dict[int, Call] = {}
    if not request_ids:
        return latest
    calls = session.scalars(select(Call).where(Call.call_request_id.in_(request_ids))
                            .order_by(Call.attempt, Call.id))
    for call in calls:
        latest[call.call_request_id] = call  # ordered: the last attempt wins
    return latest


def unrequested_calls(session, limit: int = 20) -> list[dict]:
    """Talkstack calls no call request placed (batch rows, or seen only in a webhook)."""
    calls = session.scalars(select(Call).where(Call.call_request_id.is_(None))
                            .order_by(Call.id.desc()).limit(limit))
    return [call_view(call) for call in calls]


def writes_for(session, *, request_id: int | None = None, call_ids=()) -> list[dict]:
    conditions = []
    if request_id is not None:
        conditions.append(HubSpotWrite.call_request_id == request_id)
    if call_ids:
        conditions.append(HubSpotWrite.call_id.in_(list(call_ids)))
    if not conditions:
        return []
    writes = session.scalars(select(HubSpotWrite).where(or_(*conditions))
                             .order_by(HubSpotWrite.id))
    return [as_dict(write, WRITE_FIELDS) for write in writes]


def event_view(session, event_id: int | None) -> dict | None:
    event = session.get(InboundEvent, event_id) if event_id is not None else None
    return as_dict(event, EVENT_FIELDS) if event is not None else None


def batch_row_view(session, row_id: int | None) -> dict | None:
    row = session.get(BatchRow, row_id) if row_id is not None else None
    if row is None:
        return None
    return {"id": row.id, "batch_id": row.batch_id, "position": row.position,
            "state": row.state, "reason": row.reason, "number": row.number}


def request_trace(session, request_id: int) -> dict | None:
    """Inbound event → call request (policy decision) → Talkstack calls → HubSpot writes."""
    request = session.get(CallRequest, request_id)
    if request is None:
        return None
    calls = list(session.scalars(select(Call).where(Call.call_request_id == request_id)
                                 .order_by(Call.attempt, Call.id)))
    return {
        "req": {**as_dict(request, REQUEST_FIELDS), "name": request_name(request),
                    "variables": request.dial_variables or request.variables or {}},
        "event": event_view(session, request.inbound_event_id),
        "batch_row": batch_row_view(session, request.batch_row_id),
        "calls": [call_view(call) for call in calls],
        "writes": writes_for(session, request_id=request_id, call_ids=[c.id for c in calls]),
    }


def call_trace(session, call_id: int) -> dict | None:
    """One Talkstack call on its own (batch calls and calls seen only in a webhook)."""
    call = session.get(Call, call_id)
    if call is None:
        return None
    return {"call": call_view(call), "batch_row": batch_row_view(session, call.batch_row_id),
            "writes": writes_for(session, call_ids=[call.id]), "record": call.record or {}}

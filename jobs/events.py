"""Turn recorded inbound events into work: call requests, or reconcile hints."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain.triggers import CREATION, match_event
from jobs.deadletters import bury
from store.claims import claim_one, free
from store.clock import utcnow
from store.models import Call, CallRequest, InboundEvent

log = logging.getLogger(__name__)
MAX_EVENT_ATTEMPTS = 8


def process_event(rt, event_id: int) -> None:
    db = rt.db
    if not claim_one(
        db,
        InboundEvent,
        event_id,
        InboundEvent.state == "pending",
        lease_seconds=rt.settings.lease_seconds,
    ):
        return
    with db.session() as session:
        event = session.get(InboundEvent, event_id)
        source, payload, attempts = event.source, dict(event.payload or {}), event.attempts
    try:
        state = HANDLERS[source](rt, event_id, payload)
    except Exception as exc:  # retried by the sweeper after a backoff, then dead-lettered
        _failed(rt, event_id, attempts + 1, exc)
        return
    with db.session() as session:
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id)
            .values(state=state, processed_at=utcnow(), lease_until=None, attempts=attempts + 1)
        )


def process_events(rt, event_ids: list[int]) -> None:
    for event_id in event_ids:
        process_event(rt, event_id)


def _failed(rt, event_id: int, attempts: int, exc: Exception) -> None:
    log.warning("event %s failed (attempt %s): %s", event_id, attempts, exc)
    with rt.db.session() as session:
        values = {"attempts": attempts, "last_error": str(exc)[:1000]}
        if attempts >= MAX_EVENT_ATTEMPTS:
            values.update(state="dead", lease_until=None)
        else:
            values["lease_until"] = utcnow() + timedelta(seconds=min(2**attempts, 300))
        session.execute(update(InboundEvent).where(InboundEvent.id == event_id).values(**values))
        if attempts >= MAX_EVENT_ATTEMPTS:
            bury(session, "event", event_id, str(exc), attempts)


def create_request(
    rt,
    *,
    trigger: str,
    trigger_key: str,
    contact_id: str,
    agent_id=None,
    variables=None,
    event_id=None,
    callback_id=None,
    batch_row_id=None,
) -> int | None:
    """Insert a call request unless this trigger already has one; return its id if new."""
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    now = utcnow()
    values = dict(
        trigger=trigger,
        trigger_key=trigger_key[:255],
        contact_id=contact_id,
        agent_id=agent_id,
        variables=variables or {},
        inbound_event_id=event_id,
        callback_id=callback_id,
        callback_state="waiting" if callback_id else None,
        batch_row_id=batch_row_id,
        state="pending",
        attempts=0,
        failures=0,
        created_at=now,
        updated_at=now,
    )
    with rt.db.session() as session:
        new_id = session.execute(
            insert(CallRequest)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["trigger_key"])
            .returning(CallRequest.id)
        ).scalar()
    if new_id is not None:
        rt.enqueue("dispatch_requests")
    return new_id


def _hubspot_app(rt, event_id: int, event: dict) -> str:
    s = rt.settings
    match = match_event(
        event,
        trigger_property=s.call_trigger_property,
        call_on_creation=s.call_on_contact_creation,
        rules=rt.rules,
    )
    if match is None:
        return "ignored"
    kind = (
        "contact_creation"
        if event.get("subscriptionType") == CREATION
        else ("property_change" if match.resets_property else "rule")
    )
    create_request(
        rt,
        trigger=kind,
        trigger_key=f"hubspot_app:{event_id}",
        contact_id=match.contact_id,
        agent_id=match.agent_id,
        event_id=event_id,
    )
    return "done"


def _hubspot_workflow(rt, event_id: int, payload: dict) -> str:
    create_request(
        rt,
        trigger="workflow",
        trigger_key=f"hubspot_workflow:{event_id}",
        contact_id=payload["contactId"],
        event_id=event_id,
    )
    return "done"


def parse_variable_lines(text: str) -> dict[str, str]:
    """The action's optional `variables` input: one key=value per line."""
    variables = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            variables[key.strip()] = value.strip()
    return variables


def _hubspot_action(rt, event_id: int, payload: dict) -> str:
    create_request(
        rt,
        trigger="workflow_action",
        trigger_key=f"action:{payload['callbackId']}",
        contact_id=payload["contactId"],
        agent_id=payload.get("agentId"),
        variables=parse_variable_lines(payload.get("variables", "")),
        event_id=event_id,
        callback_id=payload["callbackId"],
    )
    return "done"


def note_call_hint(rt, call_id: str) -> None:
    """A webhook mentioned this call: make sure we track it, and check it now."""
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    now = utcnow()
    with rt.db.session() as session:
        session.execute(
            insert(Call)
            .values(
                talkstack_call_id=call_id,
                attempt=1,
                is_final=False,
                checks=0,
                next_check_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["talkstack_call_id"])
        )
        session.execute(
            update(Call)
            .where(Call.talkstack_call_id == call_id, Call.next_check_at.is_not(None))
            .values(next_check_at=now)
        )
    rt.enqueue("reconcile_call", call_id)


def _talkstack(rt, event_id: int, payload: dict) -> str:
    note_call_hint(rt, payload["callId"])
    return "done"


HANDLERS = {
    "hubspot_app": _hubspot_app,
    "hubspot_workflow": _hubspot_workflow,
    "hubspot_action": _hubspot_action,
    "talkstack": _talkstack,
}


def wake_waiting_events(rt, limit: int = 500) -> list[int]:
    """Pending events whose wake-up may be lost: received over 2 s ago and not re-woken
    within a lease. Marks them woken, so a backlog is not re-enqueued on every sweep."""
    now = utcnow()
    rewake_before = now - timedelta(seconds=rt.settings.lease_seconds)
    with rt.db.session() as session:
        ids = list(
            session.scalars(
                select(InboundEvent.id)
                .where(InboundEvent.state == "pending")
                .where(InboundEvent.created_at < now - timedelta(seconds=2))
                .where(free(InboundEvent))
                .where((InboundEvent.woken_at.is_(None)) | (InboundEvent.woken_at < rewake_before))
                .order_by(InboundEvent.id)
                .limit(limit)
            )
        )
        if ids:
            session.execute(
                update(InboundEvent).where(InboundEvent.id.in_(ids)).values(woken_at=now)
            )
    return ids

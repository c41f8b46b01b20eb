"""Batch rows dialled one by one later, through an ordinary call request (jobs.calls):

- a row deferred by quiet hours is left out of the file; its request dials it once the
  contact's window opens;
- a row whose uploaded call ended in `CALL_RETRY_STATUSES` earns follow-ups (SPEC §5.6):
  its request starts at attempt 1, so the cooldown does not block it and
  `CALL_MAX_ATTEMPTS` counts the batch call.
One request per row at most: the trigger key is `batch:<batch id>:<row position>`. While the
request is open the row is `queued`; when it ends the row takes its result.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain import policy
from jobs.events import create_request
from store.clock import utcnow
from store.models import Batch, BatchRow, Call, CallRequest

TRIGGER = "batch"
REQUEST_TO_ROW = {"done": "done", "skipped": "skipped", "dead": "failed", "failed": "failed"}


def trigger_key(batch_id: int, position: int) -> str:
    return f"{TRIGGER}:{batch_id}:{position}"


def ensure_deferred_requests(rt, batch_id: int, agent_id: str | None) -> int:
    """A call request per quiet-hours row (idempotent)."""
    with rt.db.session() as session:
        rows = session.execute(select(BatchRow.id, BatchRow.position, BatchRow.contact_id).where(
            BatchRow.batch_id == batch_id, BatchRow.state == "queued",
            BatchRow.reason == policy.QUIET_HOURS)).all()
    for row_id, position, contact_id in rows:
        create_request(rt, trigger=TRIGGER, trigger_key=trigger_key(batch_id, position),
                       contact_id=contact_id, agent_id=agent_id, batch_row_id=row_id)
    return len(rows)


def schedule_follow_ups(rt, session, batch_id: int) -> int:
    """Rows whose batch call ended busy / unanswered → a delayed follow-up request."""
    settings = rt.settings
    if settings.call_max_attempts < 2 or not settings.call_retry_statuses:
        return 0
    has_request = select(CallRequest.id).where(CallRequest.batch_row_id == BatchRow.id).exists()
    rows = session.execute(
        select(BatchRow.id, BatchRow.position, BatchRow.contact_id, BatchRow.number)
        .join(Call, Call.id == BatchRow.call_id)
        .where(BatchRow.batch_id == batch_id, BatchRow.state.in_(("uploaded", "done")),
               Call.is_final.is_(True), Call.call_request_id.is_(None),
               Call.status.in_(settings.call_retry_statuses), ~has_request)).all()
    if not rows:
        return 0
    agent_id = session.get(Batch, batch_id).agent_id
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    now = utcnow()
    due_at = now + timedelta(minutes=settings.call_retry_delay_minutes)
    for row_id, position, contact_id, number in rows:
        session.execute(insert(CallRequest).values(
            trigger=TRIGGER, trigger_key=trigger_key(batch_id, position), contact_id=contact_id,
            agent_id=agent_id, variables={}, batch_row_id=row_id, state="pending",
            number=number, attempts=1, failures=0, not_before=due_at, created_at=now,
            updated_at=now).on_conflict_do_nothing(index_elements=["trigger_key"]))
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(state="queued"))
    rt.enqueue("dispatch_requests", delay=(due_at - now).total_seconds())
    return len(rows)


def follow_requests(session, batch_id: int) -> None:
    """Queued rows whose request has ended take its result (a row that was called at least
    once is `done`, with its latest call)."""
    rows = session.execute(select(BatchRow.id, BatchRow.call_id, CallRequest.id,
                                  CallRequest.state, CallRequest.reason)
                           .join(CallRequest, CallRequest.batch_row_id == BatchRow.id)
                           .where(BatchRow.batch_id == batch_id, BatchRow.state == "queued",
                                  CallRequest.state.in_(tuple(REQUEST_TO_ROW)))).all()
    for row_id, earlier_call_id, request_id, request_state, request_reason in rows:
        latest = session.scalar(select(func.max(Call.id)).where(
            Call.call_request_id == request_id))
        call_id = latest or earlier_call_id
        if call_id is not None:
            state, reason = "done", None
        else:
            state = REQUEST_TO_ROW[request_state]
            reason = None if state == "done" else (request_reason or "dial_failed")
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(
            state=state, reason=reason, call_id=call_id))

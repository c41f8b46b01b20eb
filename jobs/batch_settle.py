"""After upload: tie Talkstack's calls back to batch rows until every row has an outcome.

Talkstack answers a batch upload without per-row call ids, so a row learns its call later:
- a webhook's call is confirmed by `jobs.outcomes`, which sets its contact from the echoed
  `hubspot_contact_id` (or, without one, links the row by number); this pass links such
  calls to the row with that contact and number, uploaded before the call was seen;
- rows still without a call `RECONCILE_AFTER_SECONDS` after upload are looked up in
  Talkstack's call history by number (webhooks get lost);
- rows deferred by quiet hours follow the call request that dials them later.
A row whose call is final is `done`; a row no call ever turns up for is `failed` after
`GIVE_UP_AFTER`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain import policy
from integrations.errors import IntegrationError
from jobs.events import create_request
from store.clock import to_naive_utc, utcnow
from store.models import BatchRow, Call, CallRequest

log = logging.getLogger(__name__)

OPEN_STATES = ("queued", "uploaded")
# A call is seen (webhook, history) after its row was uploaded; the slack absorbs clock skew
# between Talkstack and us and an upload recorded late (interrupted, then marked).
MATCH_SLACK = timedelta(minutes=15)
LOOKUPS_PER_PASS = 10  # call-history requests per settle pass, per batch
GIVE_UP_AFTER = timedelta(hours=24)
NOT_PLACED = "not_placed"
REQUEST_TO_ROW = {"done": "done", "skipped": "skipped", "dead": "failed", "failed": "failed"}


def deferred_trigger_key(batch_id: int, position: int) -> str:
    return f"batch:{batch_id}:{position}"


def ensure_deferred_requests(rt, batch_id: int, agent_id: str | None) -> int:
    """A call request per quiet-hours row (idempotent: one trigger key per row)."""
    with rt.db.session() as session:
        rows = session.execute(select(BatchRow.id, BatchRow.position, BatchRow.contact_id).where(
            BatchRow.batch_id == batch_id, BatchRow.state == "queued",
            BatchRow.reason == policy.QUIET_HOURS)).all()
    for row_id, position, contact_id in rows:
        create_request(rt, trigger="batch", trigger_key=deferred_trigger_key(batch_id, position),
                       contact_id=contact_id, agent_id=agent_id, batch_row_id=row_id)
    return len(rows)


def settle(rt, batch_id: int) -> dict[str, int]:
    """One pass; returns how many rows are still open, by state (queued, uploaded)."""
    with rt.db.session() as session:
        _link_correlated_calls(session, batch_id)
        _link_contact_calls(session, batch_id)
        _finish_rows_with_final_calls(session, batch_id)
        _follow_deferred_requests(session, batch_id)
        _give_up_old_rows(session, batch_id)
    _look_up_stale_rows(rt, batch_id)
    with rt.db.session() as session:
        counts = dict(session.execute(select(BatchRow.state, func.count(BatchRow.id)).where(
            BatchRow.batch_id == batch_id, BatchRow.state.in_(OPEN_STATES))
            .group_by(BatchRow.state)).all())
    return {state: counts.get(state, 0) for state in OPEN_STATES}


def _link_correlated_calls(session, batch_id: int) -> None:
    """Calls that already point at a row (number match, history) → the row's call_id."""
    pairs = session.execute(select(BatchRow.id, func.min(Call.id)).join(
        Call, Call.batch_row_id == BatchRow.id).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", BatchRow.call_id.is_(None))
        .group_by(BatchRow.id)).all()
    for row_id, call_id in pairs:
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(call_id=call_id))


def _link_contact_calls(session, batch_id: int) -> None:
    """Calls correlated by echoed contact id: same contact, same number, after upload."""
    candidates = session.execute(
        select(Call.id, Call.to_number, Call.created_at, BatchRow.id, BatchRow.number,
               BatchRow.uploaded_at)
        .join(BatchRow, and_(BatchRow.contact_id == Call.contact_id,
                             BatchRow.batch_id == batch_id, BatchRow.state == "uploaded",
                             BatchRow.call_id.is_(None)))
        .where(Call.batch_row_id.is_(None), Call.call_request_id.is_(None))
        .order_by(Call.id)).all()
    linked_rows: set[int] = set()
    for call_id, to_number, seen_at, row_id, number, uploaded_at in candidates:
        if row_id in linked_rows or (to_number and to_number != number):
            continue
        if uploaded_at is None or seen_at < uploaded_at - MATCH_SLACK:
            continue  # an older call to the same contact
        linked_rows.add(row_id)
        session.execute(update(Call).where(Call.id == call_id).values(batch_row_id=row_id))
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(call_id=call_id))


def _finish_rows_with_final_calls(session, batch_id: int) -> None:
    finished = session.scalars(select(BatchRow.id).join(Call, Call.id == BatchRow.call_id).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", Call.is_final.is_(True)))
    ids = list(finished)
    if ids:
        session.execute(update(BatchRow).where(BatchRow.id.in_(ids)).values(state="done"))


def _follow_deferred_requests(session, batch_id: int) -> None:
    rows = session.execute(select(BatchRow.id, CallRequest.id, CallRequest.state,
                                  CallRequest.reason)
                           .join(CallRequest, CallRequest.batch_row_id == BatchRow.id)
                           .where(BatchRow.batch_id == batch_id, BatchRow.state == "queued",
                                  CallRequest.state.in_(tuple(REQUEST_TO_ROW)))).all()
    for row_id, request_id, request_state, request_reason in rows:
        call_id = session.scalar(select(func.max(Call.id)).where(
            Call.call_request_id == request_id))
        row_state = REQUEST_TO_ROW[request_state]
        reason = None if row_state == "done" else (request_reason or "dial_failed")
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(
            state=row_state, reason=reason, call_id=call_id))


def _give_up_old_rows(session, batch_id: int) -> None:
    session.execute(update(BatchRow).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", BatchRow.call_id.is_(None),
        BatchRow.uploaded_at < utcnow() - GIVE_UP_AFTER).values(state="failed",
                                                                reason=NOT_PLACED))


def _look_up_stale_rows(rt, batch_id: int) -> None:
    # Random order: rows still not found are asked about again in later passes, and no row
    # is starved behind a block of rows Talkstack has not dialled yet.
    cutoff = utcnow() - timedelta(seconds=rt.settings.reconcile_after_seconds)
    with rt.db.session() as session:
        stale = session.execute(select(BatchRow.id, BatchRow.contact_id, BatchRow.number,
                                       BatchRow.uploaded_at)
                                .where(BatchRow.batch_id == batch_id,
                                       BatchRow.state == "uploaded", BatchRow.call_id.is_(None),
                                       BatchRow.number.is_not(None),
                                       BatchRow.uploaded_at <= cutoff)
                                .order_by(func.random()).limit(LOOKUPS_PER_PASS)).all()
    for row_id, contact_id, number, uploaded_at in stale:
        since = uploaded_at - MATCH_SLACK
        try:
            records = rt.talkstack.get_call_history(to=number, start_time_after=since.date())
        except IntegrationError as exc:
            log.warning("batch %s: call history unavailable (%s); will retry", batch_id, exc)
            return
        record = _pick_record(rt, records, contact_id, since)
        if record is not None:
            _adopt_call(rt, row_id, contact_id, number, record)


def _pick_record(rt, records, contact_id: str, since):
    with rt.db.session() as session:
        taken = set(session.scalars(select(Call.talkstack_call_id).where(
            Call.talkstack_call_id.in_([r.call_id for r in records if r.call_id]),
            (Call.batch_row_id.is_not(None)) | (Call.call_request_id.is_not(None)))))
    for record in records:
        echoed = str(record.variables.get("hubspot_contact_id") or "").strip()
        started = to_naive_utc(record.started_at)
        if (record.call_id and record.call_id not in taken and echoed in ("", contact_id)
                and (started is None or started >= since)):
            return record
    return None


def _adopt_call(rt, row_id: int, contact_id: str, number: str, record) -> None:
    """Track a call found in history as this row's, and have it confirmed like any other."""
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    now = utcnow()
    with rt.db.session() as session:
        session.execute(insert(Call).values(
            talkstack_call_id=record.call_id, batch_row_id=row_id, contact_id=contact_id,
            match="batch", to_number=number, attempt=1, is_final=False, checks=0,
            next_check_at=now, created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["talkstack_call_id"]))
        session.execute(update(Call).where(Call.talkstack_call_id == record.call_id,
                                           Call.batch_row_id.is_(None))
                        .values(batch_row_id=row_id, contact_id=contact_id, match="batch"))
        call_id = session.scalar(select(Call.id).where(Call.talkstack_call_id == record.call_id))
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(call_id=call_id))
    rt.enqueue("reconcile_call", record.call_id)

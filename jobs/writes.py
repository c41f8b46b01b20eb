"""Flush the HubSpot outbox: up to 100 records per request, one flusher per kind.

Writes linger briefly so that a burst of outcomes becomes a few full batches; the shared
rate limiter inside the HubSpot client keeps every worker together under the limit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

import metrics
from integrations.errors import PermanentError, RateLimited, TransientError
from jobs.deadletters import bury
from jobs.engagements import send_engagements
from jobs.outbox import (
    CALL_ENGAGEMENT,
    CALLBACK_COMPLETE,
    CONTACT_UPDATE,
    linger_times,
)
from store.claims import claim_ids, due, release_lock, renew_lock, take_lock
from store.clock import utcnow
from store.models import CallRequest, HubSpotWrite

log = logging.getLogger(__name__)
BATCH_LIMIT = 100
MAX_WRITE_ATTEMPTS = 8


def flush_writes(rt, kind: str) -> None:
    lock, lease = f"flush:{kind}", rt.settings.lease_seconds
    if not take_lock(rt.db, lock, lease_seconds=lease):
        return  # another worker is flushing this kind and will drain it
    try:
        while True:
            renew_lock(rt.db, lock, lease)
            wait = _linger(rt, kind)
            if wait is None:
                return
            if wait > 0:
                rt.enqueue("flush_writes", kind, delay=wait)
                return
            ids = claim_ids(rt.db, HubSpotWrite, _ready(kind), limit=BATCH_LIMIT,
                            lease_seconds=rt.settings.lease_seconds)
            if not ids or not _send(rt, kind, ids):
                return
    finally:
        release_lock(rt.db, lock)


def _ready(kind: str):
    return (HubSpotWrite.kind == kind) & (HubSpotWrite.state == "pending") & due(HubSpotWrite)


def _linger(rt, kind: str) -> float | None:
    """None: nothing to send; 0: send now; >0: wait that long for a fuller batch.

    A full batch goes at once. Otherwise the batch waits the linger, and longer while
    writes keep joining it (a burst of outcomes in progress), up to the max linger: under
    a tight HubSpot limit, a stream of half-empty batches would waste the budget.
    """
    linger, quiet_gap, max_linger = linger_times(rt)
    with rt.db.session() as session:
        count, oldest, newest = session.execute(
            select(func.count(), func.min(HubSpotWrite.created_at),
                   func.max(HubSpotWrite.created_at)).where(_ready(kind))).one()
    if not count:
        return None
    now = utcnow()
    age, quiet = (now - oldest).total_seconds(), (now - newest).total_seconds()
    if count >= BATCH_LIMIT or age >= max_linger:
        return 0
    if age >= linger and quiet >= quiet_gap:
        return 0
    return min(max(linger - age, quiet_gap - quiet, 0.05), max_linger - age)


def _send(rt, kind: str, ids: list[int]) -> bool:
    """Send one batch; False when the flush should stop for now (retry scheduled)."""
    with rt.db.session() as session:
        rows = list(session.scalars(select(HubSpotWrite).where(HubSpotWrite.id.in_(ids))
                                    .order_by(HubSpotWrite.id)))
    try:
        failed = SENDERS[kind](rt, rows)
    except RateLimited as exc:
        _retry_later(rt, kind, ids, exc, exc.retry_after or 10, count_attempt=False)
        return False
    except TransientError as exc:
        _retry_later(rt, kind, ids, exc, None, count_attempt=True)
        return False
    except PermanentError as exc:
        _mark_dead(rt, ids, str(exc))
        return True
    _mark_done(rt, [i for i in ids if i not in failed])
    if failed:
        _mark_dead(rt, list(failed), "; ".join(sorted(set(failed.values())))[:1000], failed)
    metrics.OUTCOMES_WRITTEN.labels(kind).inc(len(ids) - len(failed))
    return True


def _send_contact_updates(rt, rows) -> dict[int, str]:
    merged: dict[str, dict] = {}
    for row in rows:  # in id order: the later write of a property wins
        merged.setdefault(row.object_key, {}).update(row.payload["properties"])
    outcome = rt.hubspot.update_contacts(list(merged.items()))
    return _failed_rows(rows, outcome.errors, key=lambda row: row.object_key)


def _send_engagements(rt, rows) -> dict[int, str]:
    errors = send_engagements(rt, rows)
    return _failed_rows(rows, errors, key=lambda row: str(row.call_id))


def _send_callbacks(rt, rows) -> dict[int, str]:
    completions = {row.object_key: row.payload["outputFields"] for row in rows}
    try:
        rt.hubspot.complete_callbacks(list(completions.items()))
        failed = {}
    except PermanentError:
        failed = {}
        for callback_id, outputs in completions.items():  # isolate the one HubSpot refused
            try:
                rt.hubspot.complete_callback(callback_id, outputs)
            except PermanentError as exc:
                failed.update({r.id: str(exc) for r in rows if r.object_key == callback_id})
    done = [r.call_request_id for r in rows if r.id not in failed and r.call_request_id]
    with rt.db.session() as session:
        for request in session.scalars(select(CallRequest).where(CallRequest.id.in_(done))):
            request.callback_state = "completed"
    return failed


def _failed_rows(rows, errors, key) -> dict[int, str]:
    messages = {str(k): m for k, m in errors}
    return {row.id: messages[key(row)] for row in rows if key(row) in messages}


SENDERS = {
    CONTACT_UPDATE: _send_contact_updates,
    CALL_ENGAGEMENT: _send_engagements,
    CALLBACK_COMPLETE: _send_callbacks,
}


def _mark_done(rt, ids) -> None:
    now = utcnow()
    with rt.db.session() as session:
        for row in session.scalars(select(HubSpotWrite).where(HubSpotWrite.id.in_(ids))):
            row.state, row.sent_at, row.lease_until = "done", now, None
            row.attempts += 1


def _mark_dead(rt, ids, reason: str, per_row: dict | None = None) -> None:
    log.error("HubSpot refused %s writes: %s", len(ids), reason)
    with rt.db.session() as session:
        for row in session.scalars(select(HubSpotWrite).where(HubSpotWrite.id.in_(ids))):
            row.attempts += 1
            row.state, row.lease_until = "dead", None
            row.last_error = (per_row or {}).get(row.id, reason)[:1000]
            bury(session, "write", row.id, row.last_error, row.attempts)


def _retry_later(rt, kind, ids, exc, delay, *, count_attempt: bool) -> None:
    with rt.db.session() as session:
        rows = list(session.scalars(select(HubSpotWrite).where(HubSpotWrite.id.in_(ids))))
        for row in rows:
            row.attempts += 1 if count_attempt else 0
            row.last_error, row.lease_until = str(exc)[:1000], None
            if row.attempts >= MAX_WRITE_ATTEMPTS:
                row.state = "dead"
                bury(session, "write", row.id, row.last_error, row.attempts)
        wait = delay or min(2 ** max(r.attempts for r in rows), 300)
        for row in rows:
            row.not_before = utcnow() + timedelta(seconds=wait)
    rt.enqueue("flush_writes", kind, delay=wait)

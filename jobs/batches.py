"""The `run_batch` task: move a batch one or more steps along its life.

    pending → building → uploading → uploaded → done        (dry run: building → done)
                 └────────────┴──── failed (permanent error; dead letter, replayable)

Each run holds a fenced lease on the batch (jobs.batch_lease). Building streams contacts
into rows and files (jobs.batch_build); uploading sends each file once (jobs.batch_upload);
an uploaded batch is settled pass by pass (jobs.batch_settle) until every row has a final
outcome, re-scheduling itself in between. Transient vendor errors retry later with backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

from integrations.errors import IntegrationError, PermanentError, TransientError
from jobs.batch_build import build_batch
from jobs.batch_lease import BatchLease, LeaseLost
from jobs.batch_requests import ensure_deferred_requests
from jobs.batch_settle import settle
from jobs.batch_upload import any_file_sent, unsent_file_ids, upload_file
from jobs.deadletters import bury
from jobs.outbox import CONTACT_UPDATE, request_flush
from store.clock import utcnow
from store.models import Batch, BatchRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # transient failures before a batch is dead-lettered
MAX_BACKOFF_SECONDS = 600
SETTLE_INTERVAL_BOUNDS = (0.5, 30.0)  # seconds between settle passes of an uploaded batch


def create_batch(rt, source: dict, *, agent_id: str | None = None, fmt: str = "csv",
                 dry_run: bool = False, enqueue: bool = True) -> int:
    """Record a batch (the API and the CLI call this); the worker builds it."""
    with rt.db.session() as session:
        batch = Batch(source=source, agent_id=agent_id, format=fmt, dry_run=dry_run,
                      state="pending", attempts=0)
        session.add(batch)
        session.flush()
        batch_id = batch.id
    if enqueue:
        rt.enqueue("run_batch", batch_id)
    return batch_id


def run_batch(rt, batch_id: int) -> None:
    lease = BatchLease(rt.db, int(batch_id), rt.settings.lease_seconds)
    if not lease.take():
        return  # another worker has it, it is not due, or there is nothing left to do
    try:
        try:
            _advance(rt, lease)
        except PermanentError as exc:
            _fail(rt, lease, exc)
        except LeaseLost:
            raise
        except Exception as exc:  # transient, or unexpected: back off, then dead-letter
            if not isinstance(exc, TransientError):
                log.exception("batch %s: unexpected error", batch_id)
            _retry_later(rt, lease, exc)
    except LeaseLost:
        log.warning("batch %s: lease lost to another worker; stopping", batch_id)


def _advance(rt, lease: BatchLease) -> None:
    batch_id = lease.batch_id
    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        state, dry_run = batch.state, batch.dry_run
        agent_id = batch.agent_id or rt.settings.talkstack_agent_id
        sent = any_file_sent(session, batch_id)
    if state in ("pending", "building") and not sent:
        result = build_batch(rt, batch_id, lease)
        log.info("batch %s built: %s rows, %s files, skipped %s", batch_id, result.rows,
                 result.files, result.skipped)
        state = "done" if dry_run else "uploading"
        with rt.db.session() as session:
            lease.check(session)
            session.get(Batch, batch_id).state = state
        if not dry_run:
            request_flush(rt, CONTACT_UPDATE)  # the skip reasons
    if state in ("pending", "building", "uploading"):
        _upload_all(rt, lease, agent_id)
        state = "uploaded"
    if state in ("uploaded", "failed"):
        _settle(rt, lease, state)
        return
    with rt.db.session() as session:
        lease.release(session)


def _upload_all(rt, lease: BatchLease, agent_id: str) -> None:
    batch_id = lease.batch_id
    with rt.db.session() as session:
        lease.check(session)
        session.get(Batch, batch_id).state = "uploading"
    ensure_deferred_requests(rt, batch_id, agent_id)
    for file_id in unsent_file_ids(rt, batch_id):
        upload_file(rt, file_id, agent_id, lease)
        lease.renew()
    with rt.db.session() as session:
        lease.check(session)
        batch = session.get(Batch, batch_id)
        batch.state, batch.attempts = "uploaded", 0


def _settle(rt, lease: BatchLease, state: str) -> None:
    """One settle pass; then done, or another pass later."""
    open_rows = settle(rt, lease.batch_id)
    # A failed batch's unsent rows stay queued (a replay sends them); only sent rows settle.
    waiting = sum(open_rows.values()) if state == "uploaded" else open_rows["uploaded"]
    with rt.db.session() as session:
        if waiting == 0:
            lease.release(session, **({"state": "done"} if state == "uploaded" else {}))
            return
        delay = settle_interval(rt)
        lease.release(session, not_before=utcnow() + timedelta(seconds=delay))
    rt.enqueue("run_batch", lease.batch_id, delay=delay)


def settle_interval(rt) -> float:
    low, high = SETTLE_INTERVAL_BOUNDS
    return min(max(rt.settings.sweep_interval_seconds, low), high)


def _retry_later(rt, lease: BatchLease, exc: Exception) -> None:
    with rt.db.session() as session:
        attempts = session.get(Batch, lease.batch_id).attempts + 1
        if attempts >= MAX_ATTEMPTS:
            _bury(session, lease, f"gave up after {attempts} attempts: {_describe(exc)}",
                  attempts)
            return
        delay = getattr(exc, "retry_after", None) or min(5 * 2 ** attempts, MAX_BACKOFF_SECONDS)
        log.warning("batch %s: %s; retrying in %.0fs", lease.batch_id, _describe(exc), delay)
        lease.release(session, attempts=attempts, last_error=_describe(exc)[:1000],
                      not_before=utcnow() + timedelta(seconds=delay))
    rt.enqueue("run_batch", lease.batch_id, delay=delay)


def _describe(exc: Exception) -> str:
    # Vendor errors carry safe messages; for anything else, only the type (no secrets).
    return str(exc) if isinstance(exc, IntegrationError) else type(exc).__name__


def _fail(rt, lease: BatchLease, exc: PermanentError) -> None:
    log.error("batch %s failed: %s", lease.batch_id, exc)
    with rt.db.session() as session:
        attempts = session.get(Batch, lease.batch_id).attempts + 1
        _bury(session, lease, str(exc), attempts)
    # Files already sent keep being settled; the failed batch re-schedules itself for that.
    with rt.db.session() as session:
        has_sent_rows = session.scalar(select(func.count(BatchRow.id)).where(
            BatchRow.batch_id == lease.batch_id, BatchRow.state == "uploaded"))
    if has_sent_rows:
        rt.enqueue("run_batch", lease.batch_id, delay=settle_interval(rt))


def _bury(session, lease: BatchLease, reason: str, attempts: int) -> None:
    lease.release(session, state="failed", attempts=attempts, last_error=reason[:1000])
    bury(session, "batch", lease.batch_id, reason, attempts)


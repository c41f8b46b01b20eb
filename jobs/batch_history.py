"""Find batch rows' calls in Talkstack's call history when no webhook brought them.

Rows still without a call `RECONCILE_AFTER_SECONDS` after upload are "stale". A lookup
round (at most one per batch per `RECONCILE_AFTER_SECONDS`, capped at a minute, in each
worker process) makes:
- one request for the latest calls since the upload: any call we never heard of that matches
  an open row (same number, echoed contact id or none) is adopted — this catches lost
  webhooks quickly while a batch is being dialled;
- a few per-number requests for randomly chosen stale rows, so every row is eventually
  asked about, even one dialled long before the latest page (random: no row starves
  behind a block of rows Talkstack has not dialled yet).
An adopted call is tracked like any other and confirmed by `reconcile_call`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from integrations.errors import IntegrationError
from store.clock import to_naive_utc, utcnow
from store.models import BatchFile, BatchRow, Call

log = logging.getLogger(__name__)

# A call is seen (webhook, history) after its row was uploaded; the slack absorbs clock skew
# between Talkstack and us and an upload recorded late (interrupted, then marked).
MATCH_SLACK = timedelta(minutes=15)
ROWS_PER_ROUND = 10  # per-number history requests per lookup round
RECENT_PAGE = 100  # calls in the "latest calls" request
MAX_ROUND_GAP_SECONDS = 60

_rounds: dict[int, float] = {}  # batch id → monotonic time of this process's last round
_rounds_lock = threading.Lock()


def look_up_calls(rt, batch_id: int) -> None:
    if not _round_due(batch_id, rt.settings.reconcile_after_seconds):
        return
    cutoff = utcnow() - timedelta(seconds=rt.settings.reconcile_after_seconds)
    with rt.db.session() as session:
        first_upload = session.scalar(select(func.min(BatchFile.uploaded_at))
                                      .where(BatchFile.batch_id == batch_id))
        stale = session.execute(_open_rows(batch_id).where(BatchRow.uploaded_at <= cutoff)
                                .order_by(func.random()).limit(ROWS_PER_ROUND)).all()
    if not stale:
        return
    try:
        adopted = _adopt_recent_calls(rt, batch_id, first_upload - MATCH_SLACK)
        for row_id, contact_id, number, uploaded_at in stale:
            if row_id not in adopted:
                _look_up_row(rt, row_id, contact_id, number, uploaded_at - MATCH_SLACK)
    except IntegrationError as exc:
        log.warning("batch %s: call history unavailable (%s); will retry", batch_id, exc)


def _round_due(batch_id: int, reconcile_after: float) -> bool:
    gap = min(max(reconcile_after, 1), MAX_ROUND_GAP_SECONDS)
    now = time.monotonic()
    with _rounds_lock:
        if now - _rounds.get(batch_id, float("-inf")) < gap:
            return False
        if len(_rounds) > 10_000:
            _rounds.clear()
        _rounds[batch_id] = now
    return True


def _open_rows(batch_id: int):
    return select(BatchRow.id, BatchRow.contact_id, BatchRow.number, BatchRow.uploaded_at).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", BatchRow.call_id.is_(None),
        BatchRow.number.is_not(None))


def _adopt_recent_calls(rt, batch_id: int, since) -> set[int]:
    records = rt.talkstack.get_call_history(start_time_after=since.date(), page_size=RECENT_PAGE)
    unknown = _unknown_records(rt, records)
    adopted: set[int] = set()
    if not unknown:
        return adopted
    with rt.db.session() as session:
        rows = session.execute(_open_rows(batch_id).where(
            BatchRow.number.in_(sorted({r.to_number for r in unknown if r.to_number})))).all()
    by_number = {number: (row_id, contact_id, uploaded_at)
                 for row_id, contact_id, number, uploaded_at in rows}
    for record in unknown:
        row = by_number.get(record.to_number)
        if row is None or row[0] in adopted:
            continue
        row_id, contact_id, uploaded_at = row
        if _belongs_to(record, contact_id, uploaded_at - MATCH_SLACK):
            _adopt(rt, row_id, contact_id, record.to_number, record)
            adopted.add(row_id)
    return adopted


def _look_up_row(rt, row_id: int, contact_id: str, number: str, since) -> None:
    records = rt.talkstack.get_call_history(to=number, start_time_after=since.date())
    for record in _unknown_records(rt, records):
        if _belongs_to(record, contact_id, since):
            _adopt(rt, row_id, contact_id, number, record)
            return


def _unknown_records(rt, records) -> list:
    """Records not already tied to a batch row or a call request."""
    ids = [r.call_id for r in records if r.call_id]
    with rt.db.session() as session:
        taken = set(session.scalars(select(Call.talkstack_call_id).where(
            Call.talkstack_call_id.in_(ids),
            Call.batch_row_id.is_not(None) | Call.call_request_id.is_not(None))))
    return [r for r in records if r.call_id and r.call_id not in taken]


def _belongs_to(record, contact_id: str, since) -> bool:
    echoed = str(record.variables.get("hubspot_contact_id") or "").strip()
    started = to_naive_utc(record.started_at)
    return echoed in ("", contact_id) and (started is None or started >= since)


def _adopt(rt, row_id: int, contact_id: str, number: str, record) -> None:
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

"""After upload: tie Talkstack's calls back to batch rows until every row has an outcome.

Talkstack answers a batch upload without per-row call ids, so a row learns its call later:
- a webhook's call is confirmed by `jobs.outcomes`, which sets its contact from the echoed
  `hubspot_contact_id` (or, without one, links the row by number); this pass links such
  calls to the row with that contact and number, uploaded before the call was seen;
- rows still without a call `RECONCILE_AFTER_SECONDS` after upload are looked up in
  Talkstack's call history (webhooks get lost; jobs.batch_history);
- rows deferred by quiet hours, and rows whose call earned a follow-up (busy, no answer),
  follow the call request that dials them later (jobs.batch_requests).
A row whose call is final is `done`; a row no call ever turns up for is `failed` after
`GIVE_UP_AFTER`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select, update

from jobs.batch_history import MATCH_SLACK, look_up_calls
from jobs.batch_requests import follow_requests, schedule_follow_ups
from store.clock import utcnow
from store.models import BatchFile, BatchRow, Call

log = logging.getLogger(__name__)

OPEN_STATES = ("queued", "uploaded")
LINK_CHUNK = 500  # contact ids per IN (...) query
GIVE_UP_AFTER = timedelta(hours=24)
NOT_PLACED = "not_placed"


def settle(rt, batch_id: int) -> dict[str, int]:
    """One pass; returns how many rows are still open, by state (queued, uploaded)."""
    with rt.db.session() as session:
        _link_correlated_calls(session, batch_id)
        _link_contact_calls(session, batch_id)
        _finish_rows_with_final_calls(session, batch_id)
        schedule_follow_ups(rt, session, batch_id)
        follow_requests(session, batch_id)
        _give_up_old_rows(session, batch_id)
    look_up_calls(rt, batch_id)
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
    """Calls correlated by echoed contact id: same contact, same number, after upload.

    Candidates are the few recent calls tied to nothing yet; rows are then fetched by their
    contacts, so a pass costs one scan of this batch's rows, not calls × rows."""
    first_upload = session.scalar(select(func.min(BatchFile.uploaded_at))
                                  .where(BatchFile.batch_id == batch_id))
    if first_upload is None:
        return
    calls = session.execute(select(Call.id, Call.contact_id, Call.to_number, Call.created_at)
                            .where(Call.batch_row_id.is_(None), Call.call_request_id.is_(None),
                                   Call.contact_id.is_not(None),
                                   Call.created_at >= first_upload - MATCH_SLACK)
                            .order_by(Call.id)).all()
    for start in range(0, len(calls), LINK_CHUNK):
        _link_chunk(session, batch_id, calls[start:start + LINK_CHUNK])


def _link_chunk(session, batch_id: int, calls: list) -> None:
    contact_ids = sorted({c.contact_id for c in calls})
    rows = session.execute(select(BatchRow.contact_id, BatchRow.id, BatchRow.number,
                                  BatchRow.uploaded_at)
                           .where(BatchRow.batch_id == batch_id, BatchRow.state == "uploaded",
                                  BatchRow.call_id.is_(None),
                                  BatchRow.contact_id.in_(contact_ids))).all()
    open_rows = {contact_id: (row_id, number, uploaded_at)
                 for contact_id, row_id, number, uploaded_at in rows}
    for call_id, contact_id, to_number, seen_at in calls:
        row = open_rows.get(contact_id)
        if row is None:
            continue
        row_id, number, uploaded_at = row
        if (to_number and to_number != number) or uploaded_at is None or \
                seen_at < uploaded_at - MATCH_SLACK:
            continue  # another number, or an older call to the same contact
        del open_rows[contact_id]
        session.execute(update(Call).where(Call.id == call_id).values(batch_row_id=row_id))
        session.execute(update(BatchRow).where(BatchRow.id == row_id).values(call_id=call_id))


def _finish_rows_with_final_calls(session, batch_id: int) -> None:
    finished = session.scalars(select(BatchRow.id).join(Call, Call.id == BatchRow.call_id).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", Call.is_final.is_(True)))
    ids = list(finished)
    if ids:
        session.execute(update(BatchRow).where(BatchRow.id.in_(ids)).values(state="done"))


def _give_up_old_rows(session, batch_id: int) -> None:
    session.execute(update(BatchRow).where(
        BatchRow.batch_id == batch_id, BatchRow.state == "uploaded", BatchRow.call_id.is_(None),
        BatchRow.uploaded_at < utcnow() - GIVE_UP_AFTER).values(state="failed",
                                                                reason=NOT_PLACED))

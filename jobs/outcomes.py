"""Confirm a call's outcome with Talkstack, correlate it, and queue the HubSpot writes."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from sqlalchemy import select

import metrics
from domain import outcomes
from integrations.errors import PermanentError, TransientError
from jobs.deadletters import bury
from jobs.followups import after_final
from jobs.outbox import CALL_ENGAGEMENT, CONTACT_UPDATE, contact_update, queue_write
from jobs.outbox import request_flush
from store.claims import claim_one
from store.clock import to_naive_utc, utcnow
from store.models import BatchRow, Call

log = logging.getLogger(__name__)
MAX_CHECKS = 40
MAX_NOT_FOUND = 5


def reconcile_call(rt, talkstack_call_id: str) -> None:
    with rt.db.session() as session:
        row_id = session.scalar(select(Call.id).where(Call.talkstack_call_id == talkstack_call_id))
    if row_id is None or not claim_one(rt.db, Call, row_id, Call.next_check_at.is_not(None),
                                       lease_seconds=rt.settings.lease_seconds):
        return
    try:
        record = rt.talkstack.get_call(talkstack_call_id)
        answers = _answers(rt, talkstack_call_id) if record.is_final else {}
    except PermanentError as exc:
        _not_found_or_dead(rt, row_id, exc)
        return
    except TransientError as exc:
        _check_later(rt, row_id, talkstack_call_id, exc=exc)
        return
    if not record.is_final:
        _check_later(rt, row_id, talkstack_call_id, status=record.status)
        return
    became_final = _store_final(rt, row_id, record, answers)
    if became_final:
        after_final(rt, row_id)
    request_flush(rt)


def _answers(rt, call_id: str) -> dict:
    questions = rt.rules.questions
    if not questions:
        return {}
    asked = [{"question": q.question, "type": q.type, **({"options": list(q.options)}
                                                          if q.options else {})}
             for q in questions]
    by_text = rt.talkstack.get_call_analysis(call_id, asked)
    return {q.key: by_text[q.question] for q in questions if q.question in by_text}


def _check_later(rt, row_id: int, call_id: str, *, status=None, exc=None) -> None:
    with rt.db.session() as session:
        call = session.get(Call, row_id)
        call.checks += 1
        call.lease_until = None
        if status:
            call.status = status
        if exc is not None:
            call.last_error = str(exc)[:1000]
        if call.checks >= MAX_CHECKS:
            call.next_check_at = None
            bury(session, "call", row_id, f"no final status after {call.checks} checks", call.checks)
            return
        delay = getattr(exc, "retry_after", None) or min(2 * 2 ** min(call.checks, 6), 120)
        call.next_check_at = utcnow() + timedelta(seconds=delay)
    rt.enqueue("reconcile_call", call_id, delay=delay)


def _not_found_or_dead(rt, row_id: int, exc: Exception) -> None:
    with rt.db.session() as session:
        call = session.get(Call, row_id)
        call.checks += 1
        call.lease_until, call.last_error = None, str(exc)[:1000]
        if call.checks >= MAX_NOT_FOUND:
            call.next_check_at = None
            bury(session, "call", row_id, f"Talkstack does not know this call: {exc}", call.checks)
        else:
            call.next_check_at = utcnow() + timedelta(seconds=10 * call.checks)


def fingerprint(record, answers) -> str:
    material = [record.status, record.seconds, record.recording_urls, record.data, answers]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _store_final(rt, row_id: int, record, answers: dict) -> bool:
    """Save the final data; queue HubSpot writes when anything changed. True if newly final."""
    with rt.db.session() as session:
        call = session.get(Call, row_id)
        became_final = not call.is_final
        changed = (call.record or {}).get("_fingerprint") != fingerprint(record, answers)
        call.status, call.is_final, call.seconds = record.status, True, record.seconds
        call.started_at = to_naive_utc(record.started_at) or call.started_at or call.created_at
        call.to_number = call.to_number or record.to_number
        call.from_number = record.from_number or call.from_number
        call.record = {**record.raw, "_fingerprint": fingerprint(record, answers)}
        call.analysis = answers or call.analysis
        call.outcome = outcomes.OUTCOME_LABEL.get(record.status)
        call.next_check_at = call.lease_until = None
        call.finalized_at = call.finalized_at or utcnow()
        if call.contact_id is None:
            _correlate(rt, session, call, record)
        if changed and call.contact_id:
            _queue_writes(rt, session, call, record)
        elif call.contact_id is None:
            call.match = "none"
            log.warning("call %s matches no HubSpot contact; recorded", call.talkstack_call_id)
    return became_final


def _correlate(rt, session, call: Call, record) -> None:
    echoed = str(record.variables.get("hubspot_contact_id") or "").strip()
    if echoed.isdigit():
        call.contact_id, call.match = echoed, "variable"
        return
    number = record.to_number
    if not number:
        return
    row = session.scalar(select(BatchRow).where(BatchRow.number == number,
                                                BatchRow.state == "uploaded")
                         .order_by(BatchRow.id.desc()))
    if row is not None:
        call.contact_id, call.match, call.batch_row_id = row.contact_id, "batch", row.id
        return
    try:
        found = rt.hubspot.find_contact_ids_by_phone(number)
    except TransientError:
        return
    if found:
        call.contact_id, call.match = found[0], "number"


def final_call(call: Call) -> outcomes.FinalCall:
    record = call.record or {}
    return outcomes.FinalCall(
        call_id=call.talkstack_call_id, status=call.status, seconds=call.seconds or 0,
        started_at=call.started_at, to_number=call.to_number, from_number=call.from_number,
        recording_urls=list(record.get("recordingUrls") or []), data=dict(record.get("data") or {}),
        answers=dict(call.analysis or {}), agent_name=None, attempt=call.attempt)


def _queue_writes(rt, session, call: Call, record) -> None:
    questions = rt.rules.questions
    final = final_call(call)
    engagement = outcomes.engagement_properties(final, questions)
    queue_write(session, CALL_ENGAGEMENT, str(call.id),
                {"properties": engagement, "contactId": call.contact_id}, call_id=call.id)
    if _is_latest_for_contact(session, call):
        contact_update(session, call.contact_id, outcomes.contact_properties(final, questions),
                       call_id=call.id)
    metrics.OUTCOMES_WRITTEN.labels("queued").inc()


def _is_latest_for_contact(session, call: Call) -> bool:
    """Out-of-order arrivals: an older call must not overwrite a newer call's summary."""
    newer = session.scalar(select(Call.id).where(
        Call.contact_id == call.contact_id, Call.id != call.id, Call.is_final.is_(True),
        Call.started_at > call.started_at).limit(1))
    return newer is None


__all__ = ["reconcile_call", "final_call", "CONTACT_UPDATE"]

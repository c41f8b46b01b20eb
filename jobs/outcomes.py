"""Confirm a call's outcome with Talkstack, correlate it, and queue the HubSpot writes.

The final status is written as soon as Talkstack confirms it. Analysis answers may not be
ready yet (or the analysis request may fail): then the call is checked again with backoff
and the same engagement is updated in place when the answers come. What the final call
means for its trigger (follow-up, workflow callback) waits for the answers, because the
workflow action hands them to the workflow.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

import metrics
from domain import outcomes
from integrations.errors import IntegrationError, PermanentError, TransientError
from jobs.agents import AGENTS_CACHE_KEY
from jobs.deadletters import bury
from jobs.followups import after_final
from jobs.outbox import (
    CALL_ENGAGEMENT,
    CONTACT_UPDATE,
    contact_update,
    handled_properties,
    queue_write,
    request_flush,
)
from store.claims import claim_one
from store.clock import to_naive_utc, utcnow
from store.models import BatchRow, CachedValue, Call

log = logging.getLogger(__name__)
MAX_CHECKS = 40
MAX_NOT_FOUND = 5
# Analysis retries after the status is final: 2, 4, ... 60 s apart (≈ 4 min in all), then
# the call is settled without answers.
MAX_ANALYSIS_TRIES = 8
ANALYSIS_TRIES_KEY = "_analysisTries"


@dataclass(frozen=True)
class Match:
    contact_id: str
    how: str  # variable | batch | number
    batch_row_id: int | None = None


def reconcile_call(rt, talkstack_call_id: str) -> None:
    with rt.db.session() as session:
        row_id = session.scalar(select(Call.id).where(Call.talkstack_call_id == talkstack_call_id))
    if row_id is None or not claim_one(
        rt.db,
        Call,
        row_id,
        Call.next_check_at.is_not(None),
        lease_seconds=rt.settings.lease_seconds,
    ):
        return
    try:
        record = rt.talkstack.get_call(talkstack_call_id)
    except PermanentError as exc:
        _not_found_or_dead(rt, row_id, talkstack_call_id, exc)
        return
    except TransientError as exc:
        _check_later(rt, row_id, talkstack_call_id, exc=exc)
        return
    if not record.is_final:
        _check_later(rt, row_id, talkstack_call_id, status=record.status)
        return
    try:
        match = _correlate(rt, row_id, record)
    except TransientError as exc:  # HubSpot's contact search: try again later
        _check_later(rt, row_id, talkstack_call_id, exc=exc)
        return
    except PermanentError as exc:  # e.g. a missing scope: recorded as unmatched
        log.error("call %s: contact search failed: %s", talkstack_call_id, exc)
        match = None
    answers, analysis_error = _answers(rt, talkstack_call_id)
    retry_in = _store_final(rt, row_id, record, answers, analysis_error, match)
    if retry_in is None:
        after_final(rt, row_id)
    else:
        rt.enqueue("reconcile_call", talkstack_call_id, delay=retry_in)
    request_flush(rt)


def _answers(rt, call_id: str) -> tuple[dict, IntegrationError | None]:
    """({question key: answer}, None), or ({}, the error) when the analysis is unavailable."""
    questions = rt.rules.questions
    if not questions:
        return {}, None
    asked = [
        {
            "question": q.question,
            "type": q.type,
            **({"options": list(q.options)} if q.options else {}),
        }
        for q in questions
    ]
    try:
        by_text = rt.talkstack.get_call_analysis(call_id, asked)
    except IntegrationError as exc:
        log.warning("analysis of call %s not available yet: %s", call_id, exc)
        return {}, exc
    return {q.key: by_text[q.question] for q in questions if q.question in by_text}, None


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
            bury(
                session, "call", row_id, f"no final status after {call.checks} checks", call.checks
            )
            return
        delay = getattr(exc, "retry_after", None) or min(2 * 2 ** min(call.checks, 6), 120)
        call.next_check_at = utcnow() + timedelta(seconds=delay)
    rt.enqueue("reconcile_call", call_id, delay=delay)


def _not_found_or_dead(rt, row_id: int, call_id: str, exc: Exception) -> None:
    with rt.db.session() as session:
        call = session.get(Call, row_id)
        call.checks += 1
        call.lease_until, call.last_error = None, str(exc)[:1000]
        if call.checks >= MAX_NOT_FOUND:
            call.next_check_at = None
            bury(session, "call", row_id, f"Talkstack does not know this call: {exc}", call.checks)
            return
        delay = 10 * call.checks
        call.next_check_at = utcnow() + timedelta(seconds=delay)
    rt.enqueue("reconcile_call", call_id, delay=delay)


def fingerprint(record, answers) -> str:
    material = [record.status, record.seconds, record.recording_urls, record.data, answers]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _store_final(rt, row_id: int, record, answers: dict, analysis_error, match) -> float | None:
    """Save the final data and queue HubSpot writes when anything changed.

    Returns None when the call is settled, else the seconds until the analysis is retried.
    """
    with rt.db.session() as session:
        call = session.get(Call, row_id)
        tries = (call.record or {}).get(ANALYSIS_TRIES_KEY, 0) + (1 if analysis_error else 0)
        answers = answers or dict(call.analysis or {})  # a failed retry keeps earlier answers
        changed = (call.record or {}).get("_fingerprint") != fingerprint(record, answers)
        call.status, call.is_final, call.seconds = record.status, True, record.seconds
        call.started_at = to_naive_utc(record.started_at) or call.started_at or call.created_at
        call.to_number = call.to_number or record.to_number
        call.from_number = record.from_number or call.from_number
        call.record = {
            **record.raw,
            "_fingerprint": fingerprint(record, answers),
            ANALYSIS_TRIES_KEY: tries,
        }
        call.analysis = answers or None
        call.outcome = outcomes.OUTCOME_LABEL.get(record.status)
        call.lease_until = None
        call.finalized_at = call.finalized_at or utcnow()
        if call.contact_id is None and match is not None:
            call.contact_id, call.match = match.contact_id, match.how
            call.batch_row_id = call.batch_row_id or match.batch_row_id
        if changed and call.contact_id:
            _queue_writes(rt, session, call)
        elif call.contact_id is None:
            call.match = "none"
            log.warning("call %s matches no HubSpot contact; recorded", call.talkstack_call_id)
        retry_in = _analysis_retry_in(call.talkstack_call_id, tries) if analysis_error else None
        if retry_in is None:
            call.next_check_at = None
        else:
            call.last_error = f"analysis: {analysis_error}"[:1000]
            call.next_check_at = utcnow() + timedelta(seconds=retry_in)
    return retry_in


def _analysis_retry_in(call_id: str, tries: int) -> float | None:
    if tries >= MAX_ANALYSIS_TRIES:
        log.warning("call %s: no analysis after %s tries; written without answers", call_id, tries)
        return None
    return float(min(2**tries, 60))


def _correlate(rt, row_id: int, record) -> Match | None:
    """Whose call is this, when we did not start it: the echoed contact id, else a batch row
    with its number, else a contact search on the number. Runs outside any write
    transaction (the search is an HTTP request); a failed search raises TransientError."""
    with rt.db.session() as session:
        if session.scalar(select(Call.contact_id).where(Call.id == row_id)) is not None:
            return None
        echoed = str(record.variables.get("hubspot_contact_id") or "").strip()
        if echoed.isdigit():
            return Match(echoed, "variable")
        number = record.to_number
        if not number:
            return None
        row = session.scalar(
            select(BatchRow)
            .where(BatchRow.number == number, BatchRow.state == "uploaded")
            .order_by(BatchRow.id.desc())
        )
        if row is not None:
            return Match(row.contact_id, "batch", row.id)
    found = rt.hubspot.find_contact_ids_by_phone(number)
    return Match(found[0], "number") if found else None


def final_call(call: Call, agent_name: str | None = None) -> outcomes.FinalCall:
    record = call.record or {}
    return outcomes.FinalCall(
        call_id=call.talkstack_call_id,
        status=call.status,
        seconds=call.seconds or 0,
        started_at=call.started_at,
        to_number=call.to_number,
        from_number=call.from_number,
        recording_urls=list(record.get("recordingUrls") or []),
        data=dict(record.get("data") or {}),
        answers=dict(call.analysis or {}),
        agent_name=agent_name,
        attempt=call.attempt,
    )


def _agent_name(session, agent_id: str | None) -> str | None:
    """The agent's name when the agent list is cached (no Talkstack request for a title)."""
    cached = session.get(CachedValue, AGENTS_CACHE_KEY) if agent_id else None
    for agent in cached.value if cached else []:
        if agent.get("id") == agent_id and agent.get("name") not in (None, "", agent_id):
            return agent["name"]
    return None


def _queue_writes(rt, session, call: Call) -> None:
    questions = rt.rules.questions
    final = final_call(call, _agent_name(session, call.agent_id))
    engagement = outcomes.engagement_properties(final, questions)
    queue_write(
        session,
        CALL_ENGAGEMENT,
        str(call.id),
        {"properties": engagement, "contactId": call.contact_id},
        call_id=call.id,
    )
    if _is_latest_for_contact(session, call):
        properties = outcomes.contact_properties(final, questions)
        if call.request is not None:
            properties.update(handled_properties(rt, call.request))
        contact_update(session, call.contact_id, properties, call_id=call.id)
    metrics.OUTCOMES_WRITTEN.labels("queued").inc()


def _is_latest_for_contact(session, call: Call) -> bool:
    """Out-of-order arrivals: an older call must not overwrite a newer call's summary."""
    newer = session.scalar(
        select(Call.id)
        .where(
            Call.contact_id == call.contact_id,
            Call.id != call.id,
            Call.is_final.is_(True),
            Call.started_at > call.started_at,
        )
        .limit(1)
    )
    return newer is None


__all__ = ["reconcile_call", "final_call", "CONTACT_UPDATE"]

"""Apply the calling policy to pending requests, then dial (one makeCall per request)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

import metrics
from domain import policy
from domain.outcomes import action_failure_outputs, action_outputs
from domain.rules import build_dynamic_variables
from integrations.errors import AmbiguousCallError, PermanentError, TransientError
from jobs.deadletters import bury
from jobs.outbox import (
    CALLBACK_COMPLETE,
    CONTACT_UPDATE,
    callback_completion,
    contact_update,
    handled_properties,
    request_flush,
)
from jobs.outcomes import final_call
from store.claims import claim_ids, claim_one, due, release_lock, take_lock
from store.clock import utcnow
from store.models import Call, CallRequest

log = logging.getLogger(__name__)
MAX_DIAL_FAILURES = 6
DISPATCH_CHUNK = 100  # one contact batch read per chunk


def policy_settings(rt) -> policy.PolicySettings:
    s = rt.settings
    return policy.PolicySettings(
        region=s.default_phone_region,
        do_not_call_properties=s.do_not_call_properties,
        cooldown=timedelta(hours=s.call_cooldown_hours),
        max_attempts=s.call_max_attempts,
        quiet_hours=rt.rules.quiet_hours,
    )


def variable_properties(rt) -> list[str]:
    return [*rt.settings.call_variables, *rt.rules.variables.values()]


def dispatch_requests(rt) -> None:
    """Decide for every due pending request, 100 contacts per HubSpot read."""
    while True:
        if not take_lock(rt.db, "dispatch", lease_seconds=rt.settings.lease_seconds):
            return  # the holder loops until nothing is pending; the sweeper covers the gap
        try:
            ids = claim_ids(
                rt.db,
                CallRequest,
                (CallRequest.state == "pending") & due(CallRequest),
                limit=DISPATCH_CHUNK,
                lease_seconds=rt.settings.lease_seconds,
            )
            if ids:
                _dispatch_chunk(rt, ids)
        finally:
            release_lock(rt.db, "dispatch")
        if not ids:
            return


def _dispatch_chunk(rt, ids: list[int]) -> None:
    settings = policy_settings(rt)
    with rt.db.session() as session:
        requests = list(session.scalars(select(CallRequest).where(CallRequest.id.in_(ids))))
        contact_ids = sorted({r.contact_id for r in requests})
    try:
        contacts = rt.hubspot.read_contacts(
            contact_ids, policy.properties_to_read(settings, variable_properties(rt))
        )
    except TransientError as exc:
        _postpone(rt, ids, getattr(exc, "retry_after", None) or 10, exc)
        return
    now = utcnow()
    dialing: list[int] = []
    with rt.db.session() as session:
        last_calls = _last_call_times(session, contact_ids, exclude=ids)
        pending = select(CallRequest).where(CallRequest.id.in_(ids), CallRequest.state == "pending")
        if not rt.db.is_sqlite:
            pending = pending.with_for_update()
        for request in session.scalars(pending):
            properties = contacts.get(request.contact_id)
            if properties is None:
                _skip(rt, session, request, "contact_not_found", write_contact=False)
                continue
            decision = policy.decide(
                properties,
                settings,
                now=now,
                attempts_so_far=request.attempts,
                last_called_at=last_calls.get(request.contact_id),
            )
            _apply(rt, session, request, decision, properties)
            if request.state == "dialing":  # a second trigger in this chunk is a cooldown
                last_calls[request.contact_id] = now
                dialing.append(request.id)
    for request_id in dialing:
        rt.enqueue("place_call", request_id)
    request_flush(rt, CONTACT_UPDATE, CALLBACK_COMPLETE)


def _last_call_times(session, contact_ids, exclude=()) -> dict:
    """When each contact was last dialled; a dial in flight counts as just now."""
    rows = session.execute(
        select(Call.contact_id, func.max(Call.created_at))
        .where(Call.contact_id.in_(contact_ids))
        .group_by(Call.contact_id)
    )
    times = dict(rows.all())
    in_flight = session.scalars(
        select(CallRequest.contact_id).where(
            CallRequest.contact_id.in_(contact_ids),
            CallRequest.state == "dialing",
            CallRequest.id.not_in(list(exclude)),
        )
    )
    for contact_id in in_flight:
        times[contact_id] = utcnow()
    return times


def _apply(rt, session, request: CallRequest, decision: policy.Decision, properties) -> None:
    request.lease_until = None
    request.number = decision.number
    if decision.skip_reason:
        _skip(rt, session, request, decision.skip_reason)
    elif decision.defer_until is not None:
        if request.reason != policy.QUIET_HOURS:
            contact_update(
                session,
                request.contact_id,
                {"talkstack_last_skip_reason": policy.QUIET_HOURS},
                request_id=request.id,
            )
        request.reason, request.not_before = policy.QUIET_HOURS, decision.defer_until
    else:
        variables = build_dynamic_variables(
            request.contact_id, properties, list(rt.settings.call_variables), rt.rules.variables
        )
        request.dial_variables = {
            **variables,
            **(request.variables or {}),
            "hubspot_contact_id": request.contact_id,
        }
        request.state, request.reason, request.not_before = "dialing", None, None


def _skip(rt, session, request: CallRequest, reason: str, *, write_contact: bool = True) -> None:
    questions = rt.rules.questions
    request.state, request.reason, request.lease_until = "skipped", reason, None
    metrics.CALLS_SKIPPED.labels(reason).inc()
    if write_contact:
        properties = {"talkstack_last_skip_reason": reason, **handled_properties(rt, request)}
        contact_update(session, request.contact_id, properties, request_id=request.id)
    _complete_action(session, request, reason, questions)


def _complete_action(session, request: CallRequest, reason: str, questions) -> None:
    """Finish a workflow action that will make no (further) call: FAIL_CONTINUE with the
    reason only when no call was made; after calls, SUCCESS with the last call's outputs."""
    if not request.callback_id or request.callback_state == "completed":
        return
    last = session.scalar(
        select(Call)
        .where(Call.call_request_id == request.id, Call.is_final.is_(True))
        .order_by(Call.attempt.desc())
        .limit(1)
    )
    outputs = (
        action_outputs(final_call(last), questions, request.attempts)
        if last is not None
        else action_failure_outputs(reason)
    )
    callback_completion(session, request.callback_id, outputs, request_id=request.id)
    request.callback_state = "queued"


def _postpone(rt, ids, seconds: float, exc: Exception) -> None:
    log.warning("postponing %s requests for %.0fs: %s", len(ids), seconds, exc)
    with rt.db.session() as session:
        for request in session.scalars(select(CallRequest).where(CallRequest.id.in_(ids))):
            request.lease_until = None
            request.not_before = utcnow() + timedelta(seconds=seconds)
            request.last_error = str(exc)[:1000]
    rt.enqueue("dispatch_requests", delay=seconds)


def place_call(rt, request_id: int) -> None:
    if not claim_one(
        rt.db,
        CallRequest,
        request_id,
        (CallRequest.state == "dialing") & due(CallRequest),
        lease_seconds=rt.settings.lease_seconds,
    ):
        return
    with rt.db.session() as session:
        request = session.get(CallRequest, request_id)
        number, agent = request.number, request.agent_id or rt.settings.talkstack_agent_id
        variables, contact_id = dict(request.dial_variables or {}), request.contact_id
        ambiguous_since = request.dial_started_at
        if ambiguous_since is None:
            request.dial_started_at = utcnow()
    try:
        placed = (
            _find_earlier_dial(rt, request_id, number, contact_id, ambiguous_since)
            if ambiguous_since
            else None
        )
        call_id = placed or rt.talkstack.make_call(number, agent, variables).call_id
    except AmbiguousCallError as exc:
        _dial_failed(rt, request_id, exc, keep_ambiguous=True)
        return
    except TransientError as exc:
        _dial_failed(rt, request_id, exc, keep_ambiguous=ambiguous_since is not None)
        return
    except PermanentError as exc:
        _dial_dead(rt, request_id, exc)
        return
    _dialled(rt, request_id, call_id, agent)


def _find_earlier_dial(rt, request_id: int, number: str, contact_id: str, since) -> str | None:
    """After a dial whose result we never stored, look for it in Talkstack's history.
    Calls another request owns are not ours; one known only from its webhook may be."""
    with rt.db.session() as session:
        known = set(
            session.scalars(
                select(Call.talkstack_call_id).where(
                    Call.to_number == number,
                    Call.call_request_id.is_not(None),
                    Call.call_request_id != request_id,
                )
            )
        )
    for record in rt.talkstack.get_call_history(to=number, start_time_after=since.date()):
        echoed = str(record.variables.get("hubspot_contact_id") or "")
        started = record.started_at.replace(tzinfo=None) if record.started_at else None
        if (
            record.call_id not in known
            and echoed in ("", contact_id)
            and (started is None or started >= since - timedelta(seconds=5))
        ):
            return record.call_id
    return None


def _dialled(rt, request_id: int, call_id: str, agent: str) -> None:
    now = utcnow()
    with rt.db.session() as session:
        request = session.get(CallRequest, request_id)
        request.attempts += 1
        request.state, request.lease_until, request.dial_started_at = "calling", None, None
        request.failures = 0
        existing = session.scalar(select(Call).where(Call.talkstack_call_id == call_id))
        call = existing or Call(talkstack_call_id=call_id, checks=0, is_final=False)
        call.call_request_id, call.attempt, call.contact_id = (
            request.id,
            request.attempts,
            request.contact_id,
        )
        call.match, call.agent_id, call.to_number = "request", agent, request.number
        call.next_check_at = call.next_check_at or now + timedelta(
            seconds=rt.settings.reconcile_after_seconds
        )
        if existing is None:
            session.add(call)
        elif existing.is_final:  # its webhook won the race: settle it now that it is linked
            call.next_check_at = now
        settle_now = existing is not None and existing.is_final
        # No contact write here: the attempt count and the trigger reset go out with the
        # outcome's update (one contact write per call instead of two).
    metrics.CALLS_STARTED.inc()
    if settle_now:
        rt.enqueue("reconcile_call", call_id)


def _dial_failed(rt, request_id: int, exc: Exception, *, keep_ambiguous: bool) -> None:
    with rt.db.session() as session:
        request = session.get(CallRequest, request_id)
        request.failures += 1
        request.last_error = str(exc)[:1000]
        if not keep_ambiguous:
            request.dial_started_at = None
        if request.failures >= MAX_DIAL_FAILURES:
            _bury_request(
                session, request, f"dial failed {request.failures} times: {exc}", rt.rules.questions
            )
            return
        delay = getattr(exc, "retry_after", None) or min(5 * 2**request.failures, 300)
        request.lease_until = None
        request.not_before = utcnow() + timedelta(seconds=delay)
    rt.enqueue("place_call", request_id, delay=delay)


def _dial_dead(rt, request_id: int, exc: Exception) -> None:
    with rt.db.session() as session:
        request = session.get(CallRequest, request_id)
        request.dial_started_at = None
        _bury_request(session, request, f"dial failed permanently: {exc}", rt.rules.questions)
    request_flush(rt, CALLBACK_COMPLETE)


def _bury_request(session, request: CallRequest, reason: str, questions) -> None:
    request.state, request.reason, request.lease_until = "dead", "dial_failed", None
    request.last_error = reason[:1000]
    bury(session, "request", request.id, reason, request.failures)
    _complete_action(session, request, "dial_failed", questions)

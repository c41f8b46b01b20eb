"""What a final call means for its trigger: another attempt, or done (and the callback)."""

from __future__ import annotations

from datetime import timedelta

from domain.outcomes import action_outputs
from jobs.outbox import callback_completion
from store.clock import utcnow
from store.models import BatchRow, Call, CallRequest


def after_final(rt, call_row_id: int) -> None:
    with rt.db.session() as session:
        call = session.get(Call, call_row_id)
        if call.batch_row_id is not None:
            row = session.get(BatchRow, call.batch_row_id)
            if row is not None:
                row.state, row.call_id = "done", call.id
        request = session.get(CallRequest, call.call_request_id) if call.call_request_id else None
        if request is None or request.state != "calling" or call.attempt != request.attempts:
            return  # a stale attempt, or the request already moved on
        if _earns_follow_up(rt.settings, call.status, request.attempts):
            delay = timedelta(minutes=rt.settings.call_retry_delay_minutes)
            request.state, request.not_before = "pending", utcnow() + delay
            follow_up_in = delay.total_seconds()
        else:
            request.state, follow_up_in = "done", None
            if request.callback_id and request.callback_state != "completed":
                from jobs.outcomes import final_call

                outputs = action_outputs(final_call(call), rt.rules.questions, request.attempts)
                callback_completion(
                    session, request.callback_id, outputs, request_id=request.id, call_id=call.id
                )
                request.callback_state = "queued"
    if follow_up_in is not None:
        rt.enqueue("dispatch_requests", delay=follow_up_in)


def _earns_follow_up(settings, status: str, attempts: int) -> bool:
    return status in settings.call_retry_statuses and attempts < settings.call_max_attempts

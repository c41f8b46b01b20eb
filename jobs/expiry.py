"""Workflow actions HubSpot has stopped waiting for.

HubSpot holds a blocked action for a week by default and then lets the workflow continue
without outputs; a trigger still unfinished by then is completed with FAIL_CONTINUE and
`reason: expired` and makes no further calls.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from domain.outcomes import action_failure_outputs
from jobs.outbox import CALLBACK_COMPLETE, callback_completion, request_flush
from store.clock import utcnow
from store.models import CallRequest

ACTION_EXPIRY = timedelta(days=7)
UNFINISHED = ("pending", "dialing", "calling")


def expire_actions(rt, *, now=None) -> int:
    cutoff = (now or utcnow()) - ACTION_EXPIRY
    with rt.db.session() as session:
        expired = list(
            session.scalars(
                select(CallRequest).where(
                    CallRequest.callback_id.is_not(None),
                    CallRequest.callback_state == "waiting",
                    CallRequest.state.in_(UNFINISHED),
                    CallRequest.created_at < cutoff,
                )
            )
        )
        for request in expired:
            request.state, request.reason, request.lease_until = "expired", "expired", None
            callback_completion(
                session,
                request.callback_id,
                action_failure_outputs("expired"),
                request_id=request.id,
            )
            request.callback_state = "queued"
    if expired:
        request_flush(rt, CALLBACK_COMPLETE)
    return len(expired)

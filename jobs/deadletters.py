"""Dead letters: permanent failures, kept with their reason until replayed."""

from __future__ import annotations

from sqlalchemy import select, update

from store.clock import utcnow
from store.models import Batch, Call, CallRequest, DeadLetter, HubSpotWrite, InboundEvent

KIND_MODELS = {
    "event": (InboundEvent, "pending"),
    "request": (CallRequest, "pending"),
    "call": (Call, None),
    "write": (HubSpotWrite, "pending"),
    "batch": (Batch, "pending"),
}


def bury(session, kind: str, ref_id: int, reason: str, attempts: int) -> None:
    session.add(DeadLetter(kind=kind, ref_id=ref_id, reason=reason[:2000], attempts=attempts))


def replay(rt, dead_letter_id: int) -> bool:
    """Put the dead work back to its first state and wake the worker. False if unknown."""
    with rt.db.session() as session:
        letter = session.get(DeadLetter, dead_letter_id)
        if letter is None or letter.replayed_at is not None:
            return False
        model, state = KIND_MODELS[letter.kind]
        values = {"lease_until": None}
        if state:
            values["state"] = state
        if hasattr(model, "not_before"):
            values["not_before"] = None
        if hasattr(model, "failures"):
            values["failures"] = 0
        if model is CallRequest:
            values["dial_started_at"] = None
        if model is Call:
            values.update(next_check_at=utcnow(), checks=0)
        if hasattr(model, "attempts") and model is not CallRequest:
            values["attempts"] = 0
        session.execute(update(model).where(model.id == letter.ref_id).values(**values))
        letter.replayed_at = utcnow()
    from jobs.sweeper import sweep

    sweep(rt)
    return True


def open_letters(rt) -> list[DeadLetter]:
    with rt.db.session() as session:
        return list(
            session.scalars(
                select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
            )
        )

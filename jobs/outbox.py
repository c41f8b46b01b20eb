"""Queue HubSpot writes in the outbox; `jobs.writes` flushes them in batches."""

from __future__ import annotations

import threading
import time

from store.models import HubSpotWrite

CALL_ENGAGEMENT = "call_engagement"
CONTACT_UPDATE = "contact_update"
CALLBACK_COMPLETE = "callback_complete"
KINDS = (CALL_ENGAGEMENT, CONTACT_UPDATE, CALLBACK_COMPLETE)


def linger_times(rt) -> tuple[float, float, float]:
    """(linger, quiet, max linger) in seconds, from OUTBOX_LINGER_SECONDS (default 1.5).

    Wait `linger` for more writes before sending a partial batch: it turns a burst of
    outcomes into a few 100-record requests instead of one request per call. While writes
    keep arriving (no `quiet` gap), keep waiting, but never past `max linger` (3.5 s by
    default, which keeps webhook → engagement p99 under 5 s, SPEC §11).
    """
    linger = rt.settings.outbox_linger_seconds
    return linger, linger / 2, linger + 2.0

# One pending flush wake-up per (runtime, kind) in this process is enough: the flush sends
# everything that is ready and re-schedules itself for what is still lingering, and the
# sweeper catches anything a skipped wake-up would have covered. Without this, a burst of
# 500 outcomes enqueues 1,500 flush tasks that only fight over the flush lock.
_wakeups_lock = threading.Lock()
_wakeup_due: dict[tuple[int, str], float] = {}


def queue_write(
    session, kind: str, object_key: str, payload: dict, *, call_id=None, request_id=None
) -> None:
    session.add(
        HubSpotWrite(
            kind=kind,
            object_key=str(object_key),
            payload=payload,
            call_id=call_id,
            call_request_id=request_id,
            state="pending",
        )
    )


def contact_update(session, contact_id: str, properties: dict, **refs) -> None:
    queue_write(session, CONTACT_UPDATE, contact_id, {"properties": properties}, **refs)


def callback_completion(session, callback_id: str, output_fields: dict, **refs) -> None:
    queue_write(session, CALLBACK_COMPLETE, callback_id, {"outputFields": output_fields}, **refs)


def handled_properties(rt, request) -> dict:
    """A property-change trigger is reset to false once handled (called or skipped)."""
    if request.trigger == "property_change":
        return {rt.settings.call_trigger_property: "false"}
    return {}


def request_flush(rt, *kinds: str) -> None:
    """Wake the flusher of each kind (all kinds when none given) once the linger is over."""
    now, linger = time.monotonic(), linger_times(rt)[0]
    for kind in kinds or KINDS:
        key = (id(rt), kind)
        with _wakeups_lock:
            if _wakeup_due.get(key, 0.0) > now:
                continue  # a wake-up is already on its way
            _wakeup_due[key] = now + linger
        rt.enqueue("flush_writes", kind, delay=linger)

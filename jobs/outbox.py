"""Queue HubSpot writes in the outbox; `jobs.writes` flushes them in batches."""

from __future__ import annotations

import threading
import time

from store.models import HubSpotWrite

CALL_ENGAGEMENT = "call_engagement"
CONTACT_UPDATE = "contact_update"
CALLBACK_COMPLETE = "callback_complete"
KINDS = (CALL_ENGAGEMENT, CONTACT_UPDATE, CALLBACK_COMPLETE)
# Wait this long for more writes before sending a partial batch: it turns a burst of
# outcomes into a few 100-record requests instead of one request per call. While writes
# keep arriving (no QUIET_SECONDS gap), keep waiting, but never past MAX_LINGER_SECONDS.
LINGER_SECONDS = 1.5
QUIET_SECONDS = 0.75
MAX_LINGER_SECONDS = 3.5  # keeps webhook → engagement p99 under 5 s (SPEC §11)

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
    now = time.monotonic()
    for kind in kinds or KINDS:
        key = (id(rt), kind)
        with _wakeups_lock:
            if _wakeup_due.get(key, 0.0) > now:
                continue  # a wake-up is already on its way
            _wakeup_due[key] = now + LINGER_SECONDS
        rt.enqueue("flush_writes", kind, delay=LINGER_SECONDS)

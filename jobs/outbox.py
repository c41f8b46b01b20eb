"""Queue HubSpot writes in the outbox; `jobs.writes` flushes them in batches."""

from __future__ import annotations

from store.models import HubSpotWrite

CALL_ENGAGEMENT = "call_engagement"
CONTACT_UPDATE = "contact_update"
CALLBACK_COMPLETE = "callback_complete"
KINDS = (CALL_ENGAGEMENT, CONTACT_UPDATE, CALLBACK_COMPLETE)
# Wait this long for more writes before sending a partial batch: it turns a burst of
# outcomes into a few 100-record requests instead of one request per call.
LINGER_SECONDS = 1.5


def queue_write(session, kind: str, object_key: str, payload: dict, *, call_id=None,
                request_id=None) -> None:
    session.add(HubSpotWrite(kind=kind, object_key=str(object_key), payload=payload,
                             call_id=call_id, call_request_id=request_id, state="pending"))


def contact_update(session, contact_id: str, properties: dict, **refs) -> None:
    queue_write(session, CONTACT_UPDATE, contact_id, {"properties": properties}, **refs)


def callback_completion(session, callback_id: str, output_fields: dict, **refs) -> None:
    queue_write(session, CALLBACK_COMPLETE, callback_id, {"outputFields": output_fields}, **refs)


def request_flush(rt, *kinds: str) -> None:
    for kind in kinds or KINDS:
        rt.enqueue("flush_writes", kind, delay=LINGER_SECONDS)

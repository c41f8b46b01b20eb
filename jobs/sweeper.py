"""Find work the queue lost (killed worker, dropped wake-up, lost webhook) and re-enqueue it.

Runs every few seconds in each worker. Everything it finds is claimable only once, so
several sweepers racing is harmless.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import exists, select, update

from jobs.events import wake_waiting_events
from jobs.expiry import expire_actions
from jobs.health import health_due
from store.claims import due, free
from store.clock import utcnow
from store.models import Batch, Call, CallRequest, HubSpotWrite

log = logging.getLogger(__name__)
SWEEP_LIMIT = 500


def sweep(rt, *, reconcile_all: bool = False) -> dict[str, int]:
    """Enqueue wake-ups for everything due. `reconcile_all` also checks calls that are not
    yet past the reconcile threshold (the `flask connector reconcile` command)."""
    found = {"events": 0, "requests": 0, "dials": 0, "calls": 0, "writes": 0, "batches": 0}
    for event_id in wake_waiting_events(rt, SWEEP_LIMIT):
        rt.enqueue("process_event", event_id)
        found["events"] += 1
    with rt.db.session() as session:
        if session.scalar(
            select(
                exists().where(CallRequest.state == "pending", due(CallRequest), free(CallRequest))
            )
        ):
            found["requests"] = 1
        dials = list(
            session.scalars(
                select(CallRequest.id)
                .where(CallRequest.state == "dialing", due(CallRequest), free(CallRequest))
                .where(
                    CallRequest.updated_at < utcnow() - timedelta(seconds=rt.settings.lease_seconds)
                )
                .limit(SWEEP_LIMIT)
            )
        )
        now = utcnow()
        check = Call.next_check_at.is_not(None) if reconcile_all else Call.next_check_at <= now
        calls = list(
            session.scalars(
                select(Call.talkstack_call_id)
                .where(check, free(Call))
                .order_by(Call.next_check_at)
                .limit(SWEEP_LIMIT)
            )
        )
        if calls:  # not due again for a lease: a backlog is not re-enqueued every sweep
            session.execute(
                update(Call)
                .where(Call.talkstack_call_id.in_(calls))
                .values(next_check_at=now + timedelta(seconds=rt.settings.lease_seconds))
            )
        kinds = list(
            session.scalars(
                select(HubSpotWrite.kind)
                .distinct()
                .where(HubSpotWrite.state == "pending", due(HubSpotWrite), free(HubSpotWrite))
            )
        )
        batches = list(
            session.scalars(
                select(Batch.id).where(
                    Batch.state.in_(("pending", "building", "uploading", "uploaded")),
                    free(Batch),
                    due(Batch),
                )
            )
        )
    if found["requests"]:
        rt.enqueue("dispatch_requests")
    for request_id in dials:
        rt.enqueue("place_call", request_id)
    for call_id in calls:
        rt.enqueue("reconcile_call", call_id)
    for kind in kinds:
        rt.enqueue("flush_writes", kind)
    for batch_id in batches:
        rt.enqueue("run_batch", batch_id)
    found["expired"] = expire_actions(rt)
    if health_due(rt):  # keeps the console's configuration health fresh
        rt.enqueue("refresh_health")
    found.update(dials=len(dials), calls=len(calls), writes=len(kinds), batches=len(batches))
    return found


class Sweeper(threading.Thread):
    """Background thread running `sweep` every `interval` seconds until stopped."""

    def __init__(self, rt, interval: float) -> None:
        super().__init__(name="sweeper", daemon=True)
        self.rt, self.interval = rt, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                sweep(self.rt)
            except Exception:  # a failed sweep is retried at the next tick
                log.exception("sweep failed")

    def stop(self) -> None:
        self._stop_event.set()

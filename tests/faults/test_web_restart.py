"""The web process restarts (SIGTERM, as on a deploy, then a new one) in the middle of a
burst of signed HubSpot deliveries: every event of every delivery that got a 2xx is
processed, and redeliveries of the rest (HubSpot retries) are processed once (SPEC §8)."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from store.models import InboundEvent
from tests.conftest import wait_for
from tests.faults.harness import (
    assert_one_engagement_per_call,
    chunked,
    placed_calls_by_number,
    post_delivery,
    seed_contacts,
    trigger_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
CONTACTS = 600
EVENTS_PER_DELIVERY = 10
SENDERS = 3
PACE_SECONDS = 0.05  # per sender between deliveries: the burst lasts a few seconds
RETRY_SECONDS = 0.1


class Burst:
    """Senders that deliver every batch until it is accepted, as HubSpot retries do, and
    remember each attempt's outcome."""

    def __init__(self, deployment, batches: list[list[dict]]) -> None:
        self.deployment, self.batches = deployment, batches
        self.attempts: list[tuple[int, int | str]] = []  # (batch index, status or error)
        self.accepted: set[int] = set()
        self._next = iter(range(len(batches)))
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._send_all, daemon=True)
                        for _ in range(SENDERS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def sent(self) -> int:
        return len(self.attempts)

    def _take(self) -> int | None:
        with self._lock:
            return next(self._next, None)

    def _send_all(self) -> None:
        session = requests.Session()
        while (index := self._take()) is not None:
            while not self._deliver(session, index):
                time.sleep(RETRY_SECONDS)
            time.sleep(PACE_SECONDS)

    def _deliver(self, session, index: int) -> bool:
        d = self.deployment
        try:
            status = post_delivery(f"http://127.0.0.1:{d.port}", d.public_base_url,
                                   d.hubspot.client_secret, self.batches[index], session=session,
                                   timeout=5)
        except requests.RequestException as exc:
            status = type(exc).__name__
            session.close()  # a broken keep-alive connection: start afresh
        with self._lock:
            self.attempts.append((index, status))
            if status == 204:
                self.accepted.add(index)
        return status == 204


def test_restart_during_a_burst_loses_no_accepted_event(stack, hubspot_sim, talkstack_sim):
    deployment = stack(CALL_MAX_ATTEMPTS="1")
    deployment.release()
    web = deployment.start_web()
    contacts = seed_contacts(hubspot_sim, CONTACTS)
    deployment.start_worker()
    burst = Burst(deployment, chunked(trigger_events(hubspot_sim, list(contacts)),
                                      EVENTS_PER_DELIVERY))
    burst.start()
    wait_for(lambda: burst.sent() >= len(burst.batches) // 4, 30, message="a quarter sent")
    assert web.process.terminate() == 0, "gunicorn did not shut down cleanly on SIGTERM"
    accepted_before_restart = set(burst.accepted)
    deployment.start_web()
    burst.join(60)

    refused = [status for _index, status in burst.attempts if status != 204]
    assert refused, "no delivery was refused: the restart did not happen during the burst"
    assert burst.accepted == set(range(len(burst.batches)))
    assert len(accepted_before_restart) < len(burst.batches)
    recorded = deployment.count(InboundEvent, InboundEvent.source == "hubspot_app")
    assert recorded == CONTACTS, "an accepted event was not recorded, or one recorded twice"

    wait_for(lambda: deployment.settled(CONTACTS), 180, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): CONTACTS}
    placed = placed_calls_by_number(talkstack_sim)
    assert sorted(placed) == sorted(contacts.values())
    assert set(placed.values()) == {1}
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)

"""SIGKILL the worker with 1,000 events queued; a restarted worker finishes the job with
exactly one call per trigger and one engagement per call (SPEC §8)."""

from __future__ import annotations

import time

import pytest

from store.models import CallRequest, InboundEvent
from tests.conftest import wait_for
from tests.faults.harness import (
    all_written,
    assert_one_engagement_per_call,
    chunked,
    placed_calls_by_number,
    seed_contacts,
    trigger_events,
)

pytestmark = pytest.mark.slow
EVENTS = 1000


def test_killed_worker_loses_nothing_and_duplicates_nothing(stack, hubspot_sim, talkstack_sim):
    deployment = stack()
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, EVENTS)
    talkstack_sim.configure_webhooks(intermediate=False)
    for events in chunked(trigger_events(hubspot_sim, list(contacts)), 10):
        assert deployment.deliver(events) == 204
    assert deployment.count(InboundEvent, InboundEvent.state == "pending") == EVENTS

    started = time.monotonic()
    worker = deployment.start_worker()
    wait_for(lambda: len(talkstack_sim.calls) >= EVENTS // 3, 90, message="a third dialled")
    worker.kill()
    at_kill = len(talkstack_sim.calls)
    print(f"killed after {time.monotonic() - started:.1f}s with {at_kill} calls placed")
    assert at_kill < EVENTS, "the worker finished before it could be killed"

    deployment.start_worker()
    wait_for(lambda: all_written(hubspot_sim, EVENTS), 240, interval=0.5,
             message=f"{EVENTS} engagements")
    print(f"all written after {time.monotonic() - started:.1f}s")
    placed = placed_calls_by_number(talkstack_sim)
    assert sorted(placed) == sorted(contacts.values())
    assert set(placed.values()) == {1}, "a contact was called twice"
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)
    assert deployment.count(CallRequest) == EVENTS
    assert deployment.count(CallRequest, CallRequest.state != "done") == 0

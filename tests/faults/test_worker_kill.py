"""SIGKILL the worker mid-work; a restarted worker finishes with exactly one call per
trigger and one engagement per call (SPEC §8: leased work is retried, effects idempotent)."""

from __future__ import annotations

import time

import pytest

from store.models import InboundEvent
from tests.conftest import wait_for
from tests.faults.harness import (
    assert_one_engagement_per_call,
    chunked,
    placed_calls_by_number,
    seed_contacts,
    trigger_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
EVENTS = 1000
# One attempt per trigger, so a busy/no-answer outcome does not schedule a follow-up.
ONE_ATTEMPT = {"CALL_MAX_ATTEMPTS": "1"}


def test_worker_killed_with_1000_events_queued_loses_and_repeats_nothing(
        stack, hubspot_sim, talkstack_sim):
    deployment = stack(**ONE_ATTEMPT)
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, EVENTS)
    for events in chunked(trigger_events(hubspot_sim, list(contacts)), 10):
        assert deployment.deliver(events) == 204
    assert deployment.count(InboundEvent, InboundEvent.state == "pending") == EVENTS

    started = time.monotonic()
    worker = deployment.start_worker()
    wait_for(lambda: len(talkstack_sim.calls) >= EVENTS // 3, 120, message="a third dialled")
    worker.kill()
    placed_at_kill = len(talkstack_sim.calls)
    assert placed_at_kill < EVENTS, "the worker finished before it could be killed"

    deployment.start_worker()
    wait_for(lambda: deployment.settled(EVENTS), 240, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): EVENTS}
    print(f"killed at {placed_at_kill} calls; all written {time.monotonic() - started:.1f}s "
          "after the first worker started")
    placed = placed_calls_by_number(talkstack_sim)
    assert sorted(placed) == sorted(contacts.values()), "a contact was never called"
    assert set(placed.values()) == {1}, f"called twice: {[n for n, c in placed.items() if c > 1]}"
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)


def test_worker_killed_while_makecall_is_in_flight_never_dials_twice(
        stack, hubspot_sim, talkstack_sim):
    """The dial reached Talkstack but the worker died before storing the call id; Talkstack's
    call history then answers 500 for a while. The retry must find the earlier call, not dial
    again (reference §4.6: a create whose answer was lost is looked up, never repeated)."""
    talkstack_sim.fault_sleep_seconds = 3.0
    talkstack_sim.fail_next(1, "slow", path_prefix="/call/makeCall")  # placed, answered late
    talkstack_sim.fail_next(4, 500, path_prefix="/call/get-call-history")  # > inline retries
    deployment = stack(**ONE_ATTEMPT)
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, 1)
    worker = deployment.start_worker()
    assert deployment.deliver(trigger_events(hubspot_sim, list(contacts))) == 204
    wait_for(lambda: talkstack_sim.calls, 30, message="the call placed")
    worker.kill()  # while Talkstack still holds the answer back

    deployment.start_worker()
    wait_for(lambda: deployment.settled(1), 90, interval=0.2, message="the request settled")
    history = talkstack_sim.requests_to("/call/get-call-history")
    assert len(history) >= 4, "the retry never looked at the call history"
    assert list(placed_calls_by_number(talkstack_sim).values()) == [1], "dialled twice"
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)


def test_worker_killed_while_engagements_are_being_created_writes_each_once(
        stack, hubspot_sim, talkstack_sim):
    """HubSpot applied the batch create but the worker died before reading the answer: the
    next flush must not create the engagements a second time."""
    hubspot_sim.fail_next(1, "timeout", path_prefix="/crm/v3/objects/calls/batch/create",
                          delay_seconds=4.0, apply=True)  # create, then answer 4 s late
    deployment = stack(**ONE_ATTEMPT)
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, 20)
    worker = deployment.start_worker()
    assert deployment.deliver(trigger_events(hubspot_sim, list(contacts))) == 204
    wait_for(lambda: hubspot_sim.calls, 60, interval=0.05, message="engagements created")
    worker.kill()  # while HubSpot still holds the answer back

    deployment.start_worker()
    wait_for(lambda: deployment.settled(len(contacts)), 90, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): len(contacts)}
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)
    lookups = [r for r in hubspot_sim.requests if r.path == "/crm/v3/objects/calls/batch/read"]
    assert lookups and lookups[0].json["idProperty"] == "talkstack_call_id"  # found, not redone

"""Vendors misbehave for a while: Talkstack answers 500s and times out, HubSpot answers 429
and 503 storms. Everything completes after recovery, nothing that could have succeeded is
dead-lettered, and a genuinely permanent failure replays with `connector replay --dead`
(SPEC §8)."""

from __future__ import annotations

import pytest

from store.models import DeadLetter
from tests.conftest import wait_for
from tests.faults.harness import (
    all_written,
    assert_one_engagement_per_call,
    placed_calls_by_number,
    seed_contacts,
    trigger_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
CONTACTS = 30
CLIENT_READ_TIMEOUT = 10.0  # integrations.talkstack.TalkstackClient default read timeout


def _assert_called_once_each(talkstack_sim, contacts: dict[str, str], expected: int) -> None:
    placed = placed_calls_by_number(talkstack_sim)
    twice = sorted(number for number, n in placed.items() if n > 1)
    assert not twice, f"dialled more than once: {twice}"
    assert len(placed) == expected and set(placed) <= set(contacts.values())


def _inject_storms(hubspot_sim, talkstack_sim) -> None:
    # HubSpot: a burst of 429s (Retry-After: 1), then a run of 503s, on whatever comes first.
    hubspot_sim.fail_next(6, 429, delay_seconds=1)
    hubspot_sim.fail_next(6, 503)
    # Talkstack: dials that time out on the client side (one of them was in fact placed),
    # then 500s on every path, then one dial refused for good (a 400 retrying cannot fix).
    talkstack_sim.fault_sleep_seconds = CLIENT_READ_TIMEOUT + 0.5
    talkstack_sim.fail_next(1, "slow", path_prefix="/call/makeCall")
    talkstack_sim.fail_next(2, "timeout", path_prefix="/call/makeCall")
    talkstack_sim.fail_next(8, 500)
    talkstack_sim.fail_next(1, 400, path_prefix="/call/makeCall")


def test_storms_complete_after_recovery_and_dead_letters_replay(
        stack, hubspot_sim, talkstack_sim):
    deployment = stack(CALL_MAX_ATTEMPTS="1", RECONCILE_AFTER_SECONDS="5")
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, CONTACTS)
    _inject_storms(hubspot_sim, talkstack_sim)
    deployment.start_worker()
    assert deployment.deliver(trigger_events(hubspot_sim, list(contacts))) == 204

    wait_for(lambda: deployment.settled(CONTACTS), 180, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): CONTACTS - 1,
                                           ("dead", "dial_failed"): 1}
    _assert_called_once_each(talkstack_sim, contacts, expected=CONTACTS - 1)
    assert len(hubspot_sim.calls) == CONTACTS - 1, "an outcome is missing"
    statuses = [r.status for r in hubspot_sim.requests]
    assert statuses.count(429) >= 6 and statuses.count(503) >= 6, "the HubSpot storm never hit"
    assert all(fault.remaining == 0 for fault in talkstack_sim._faults), "a fault never fired"

    with deployment.rt.db.session() as session:
        letters = session.query(DeadLetter).all()
        dead = [(letter.kind, "permanently" in letter.reason) for letter in letters]
    assert dead == [("request", True)], f"only the refused dial may be dead-lettered: {dead}"

    replayed = deployment.processes.cli("replay", "--dead")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 of 1" in replayed.stdout
    wait_for(lambda: all_written(hubspot_sim, CONTACTS), 60, interval=0.5,
             message="the replayed dial written")
    wait_for(lambda: deployment.settled(CONTACTS), 30, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): CONTACTS}

    _assert_called_once_each(talkstack_sim, contacts, expected=CONTACTS)
    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)
    assert deployment.count(DeadLetter, DeadLetter.replayed_at.is_(None)) == 0

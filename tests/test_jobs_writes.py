"""The HubSpot outbox: writes coalesced into ≤100-input batches under the shared rate limit,
nothing lost, permanent failures dead-lettered (SPEC §7, §8; issue 4)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from store.models import DeadLetter, HubSpotWrite
from tests.conftest import make_calls, wait_for

WRITE_PATHS = ("/crm/v3/objects/calls/batch/create", "/crm/v3/objects/calls/batch/update",
               "/crm/v3/objects/contacts/batch/update")


@pytest.fixture
def running(live, worker_for):
    """live(**env) with a worker; returns the app."""

    def build(**env):
        app, _url = live(**env)
        # A slower sweep than elsewhere: under a 500-call backlog a fast sweeper only
        # re-enqueues work the queue already holds.
        worker_for(app, sweep_interval=1.0)
        return app

    return build


def written_contacts(hubspot_sim, contact_ids) -> int:
    return sum(1 for c in contact_ids if "talkstack_last_call_status" in hubspot_sim.contacts[c])


def write_states(rt) -> set[str]:
    with rt.db.session() as session:
        return set(session.scalars(select(HubSpotWrite.state)))


def longest_429_run(recorded) -> int:
    runs = [len(list(group)) for is_429, group in
            itertools.groupby(recorded, key=lambda r: r.status == 429) if is_429]
    return max(runs, default=0)


def test_500_outcomes_under_a_20_per_10s_limit_take_at_most_15_write_requests(
        running, hubspot_sim, talkstack_sim):
    app = running(HUBSPOT_RATE_LIMIT="20", OUTBOX_LINGER_SECONDS="1.5")  # the default
    numbers = [f"+1212555{1000 + i:04d}" for i in range(500)]
    contacts = hubspot_sim.add_contacts([{"phone": n} for n in numbers])
    for number in numbers:
        talkstack_sim.script_outcome(number, "completed", seconds=30)
    talkstack_sim.configure_webhooks(intermediate=False)  # final ones only: a faster test
    hubspot_sim.set_rate_limit(20, 10)
    before = len(hubspot_sim.requests)  # setup traffic is not the write-back's

    sids = make_calls(talkstack_sim, list(zip(numbers, contacts, strict=True)))

    wait_for(lambda: written_contacts(hubspot_sim, contacts) == 500
             and len(hubspot_sim.calls) == 500, timeout=50, interval=0.2,
             message="500 outcomes written")
    traffic = hubspot_sim.requests[before:]
    writes = [r for r in traffic if r.method == "POST" and r.path in WRITE_PATHS]
    assert len(writes) <= 15, [(r.path, len(r.json["inputs"]), r.status) for r in writes]
    assert all(len(r.json["inputs"]) <= 100 for r in writes)
    assert longest_429_run(traffic) <= 1
    by_contact = {e["associations"][0]: e["properties"] for e in hubspot_sim.calls.values()}
    assert sorted(by_contact) == sorted(contacts)  # one engagement each, none lost
    for contact_id, number, sid in zip(contacts, numbers, sids, strict=True):
        assert by_contact[contact_id]["hs_call_to_number"] == number
        assert hubspot_sim.contacts[contact_id]["talkstack_last_call_id"] == sid
    rt = app.extensions["connector"]
    wait_for(lambda: write_states(rt) == {"done"}, message="outbox drained")  # last batch


def test_a_refused_write_is_dead_lettered_with_its_reason(running, hubspot_sim, talkstack_sim):
    app = running()
    rt = app.extensions["connector"]
    contact_id = hubspot_sim.add_contact(phone="+14155550141")
    talkstack_sim.script_outcome("+14155550141", "completed", seconds=12)
    hubspot_sim.fail_next(1, 400, path_prefix="/crm/v3/objects/calls/batch/create")

    make_calls(talkstack_sim, [("+14155550141", contact_id)])

    letter = wait_for(lambda: _open_letter(rt), message="dead letter")
    assert letter.kind == "write"
    assert "VALIDATION_ERROR" in letter.reason
    assert hubspot_sim.calls == {}
    with rt.db.session() as session:
        dead = session.get(HubSpotWrite, letter.ref_id)
        assert (dead.kind, dead.state) == ("call_engagement", "dead")
    # the contact update is a separate write and went through
    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_last_call_status")
             == "completed", message="contact written")


def test_a_429_is_honoured_and_the_write_retried(running, hubspot_sim, talkstack_sim):
    app = running()
    contact_id = hubspot_sim.add_contact(phone="+14155550142")
    talkstack_sim.script_outcome("+14155550142", "no-answer")
    hubspot_sim.fail_next(2, 429, path_prefix="/crm/v3/objects/calls/batch/create",
                          delay_seconds=0.5)

    make_calls(talkstack_sim, [("+14155550142", contact_id)])

    wait_for(lambda: hubspot_sim.calls, message="engagement written after the 429s")
    creates = [r for r in hubspot_sim.requests if r.path == "/crm/v3/objects/calls/batch/create"]
    assert [r.status for r in creates] == [429, 429, 201]
    assert creates[1].at - creates[0].at >= 0.5  # Retry-After honoured
    assert len(hubspot_sim.calls) == 1
    assert _open_letter(app.extensions["connector"]) is None


def _open_letter(rt):
    with rt.db.session() as session:
        return session.scalar(select(DeadLetter).where(DeadLetter.replayed_at.is_(None)))

"""One call engagement per Talkstack call, even when a create's answer is lost or HubSpot
refuses a create as a duplicate (jobs/engagements.py, SPEC §7 and §8)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from integrations.errors import TransientError
from integrations.hubspot import CallInput, HubSpotClient
from jobs.engagements import send_engagements
from store.models import Call, DeadLetter, HubSpotWrite
from tests.conftest import make_calls, wait_for

CREATE = "/crm/v3/objects/calls/batch/create"
READ = "/crm/v3/objects/calls/batch/read"


def add_call(rt, sid: str, contact_id: str) -> int:
    with rt.db.session() as session:
        call = Call(talkstack_call_id=sid, contact_id=contact_id, status="completed",
                    is_final=True)
        session.add(call)
        session.flush()
        return call.id


def engagement_write(call_id: int, contact_id: str, title: str) -> HubSpotWrite:
    properties = {"hs_timestamp": "2026-12-04T10:00:00.000Z", "hs_call_title": title}
    return HubSpotWrite(kind="call_engagement", object_key=str(call_id), call_id=call_id,
                        payload={"properties": properties, "contactId": contact_id})


def stored_engagement_id(rt, call_id: int) -> str | None:
    with rt.db.session() as session:
        return session.get(Call, call_id).hubspot_call_id


def paths(hubspot_sim, since: int = 0) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in hubspot_sim.requests[since:]]


def test_a_create_whose_answer_was_lost_is_found_not_made_again(
        live, worker_for, hubspot_sim, talkstack_sim):
    app, _url = live()
    rt = app.extensions["connector"]
    # The real client with a short read timeout: HubSpot applies the create, answers late.
    rt.hubspot = HubSpotClient(access_token=hubspot_sim.access_token, base_url=hubspot_sim.url,
                               rate_limiter=rt.rate_limiter, timeout=(1, 0.5))
    hubspot_sim.fail_next(1, "timeout", path_prefix=CREATE, delay_seconds=1.5, apply=True)
    contact_id = hubspot_sim.add_contact(phone="+14155550161")
    talkstack_sim.script_outcome("+14155550161", "completed", seconds=20)
    worker_for(app, threads=2)
    [sid] = make_calls(talkstack_sim, [("+14155550161", contact_id)])
    wait_for(lambda: _all_writes_done(rt), timeout=30, message="writes settled")

    [(engagement_id, engagement)] = hubspot_sim.calls.items()
    assert engagement["properties"]["talkstack_call_id"] == sid
    assert engagement["associations"] == [contact_id]
    creates = [r for r in hubspot_sim.requests if r.path == CREATE]
    assert len(creates) == 1  # applied, its answer lost, never sent again
    lookups = [r for r in hubspot_sim.requests if r.path == READ]
    assert lookups and lookups[0].json["idProperty"] == "talkstack_call_id"
    assert lookups[0].json["inputs"] == [{"id": sid}]
    with rt.db.session() as session:
        call = session.scalar(select(Call).where(Call.talkstack_call_id == sid))
        assert call.hubspot_call_id == engagement_id
        assert session.scalar(select(DeadLetter)) is None


def test_a_create_refused_as_a_duplicate_is_resolved_by_looking_it_up(
        rt, setup_done, hubspot_sim):
    contact_id = hubspot_sim.add_contact(phone="+14155550162")
    call_id = add_call(rt, "CA-dup", contact_id)
    # An engagement for this call exists already, but this database does not know it
    # (restored from a backup taken before its create was answered, say).
    existing = rt.hubspot.create_calls([CallInput(
        "x", {"hs_timestamp": "1", "talkstack_call_id": "CA-dup"}, contact_id)]).results["x"]

    with pytest.raises(TransientError) as raised:
        send_engagements(rt, [engagement_write(call_id, contact_id, "first try")])
    assert raised.value.status == 409
    assert stored_engagement_id(rt, call_id) is None
    before = len(hubspot_sim.requests)

    assert send_engagements(rt, [engagement_write(call_id, contact_id, "retried")]) == []

    assert list(hubspot_sim.calls) == [existing]
    assert hubspot_sim.calls[existing]["properties"]["hs_call_title"] == "retried"
    assert stored_engagement_id(rt, call_id) == existing
    assert paths(hubspot_sim, before) == [
        ("POST", READ, 200), ("POST", "/crm/v3/objects/calls/batch/update", 200)]


def test_a_missing_call_property_is_created_then_the_engagement_written(rt, hubspot_sim):
    # `flask connector setup` was never run (or ran before this property existed).
    contact_id = hubspot_sim.add_contact(phone="+14155550163")
    call_id = add_call(rt, "CA-new", contact_id)

    assert send_engagements(rt, [engagement_write(call_id, contact_id, "hello")]) == []

    definition = hubspot_sim.property_defs["calls"]["talkstack_call_id"]
    assert definition["hasUniqueValue"] is True and definition["groupName"] == "talkstack"
    [(engagement_id, engagement)] = hubspot_sim.calls.items()
    assert engagement["properties"]["talkstack_call_id"] == "CA-new"
    assert stored_engagement_id(rt, call_id) == engagement_id
    assert [(p, s) for m, p, s in paths(hubspot_sim) if m == "POST"] == [
        (CREATE, 400),
        ("/crm/v3/properties/calls/groups", 201),
        ("/crm/v3/properties/calls", 201),
        (CREATE, 201),
    ]


def test_later_writes_update_the_engagement_in_place(rt, setup_done, hubspot_sim):
    contact_id = hubspot_sim.add_contact(phone="+14155550164")
    call_id = add_call(rt, "CA-upd", contact_id)
    send_engagements(rt, [engagement_write(call_id, contact_id, "status")])
    before = len(hubspot_sim.requests)

    assert send_engagements(rt, [engagement_write(call_id, contact_id, "old"),
                                 engagement_write(call_id, contact_id, "analysis")]) == []

    [engagement] = hubspot_sim.calls.values()
    assert engagement["properties"]["hs_call_title"] == "analysis"  # the newest write wins
    assert paths(hubspot_sim, before) == [("POST", "/crm/v3/objects/calls/batch/update", 200)]


def _all_writes_done(rt) -> bool:
    with rt.db.session() as session:
        states = set(session.scalars(select(HubSpotWrite.state)))
    return states == {"done"}

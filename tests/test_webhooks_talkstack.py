"""POST /webhooks/talkstack/<token>: any body is stored raw, the call id extracted, a
reconcile enqueued; a wrong token stores nothing (SPEC §4, issue 4 item 1)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from sqlalchemy import func, select

from store.models import Call, InboundEvent
from tests.conftest import wait_for


def url_for(rt, token: str | None = None) -> str:
    return f"/webhooks/talkstack/{token or rt.settings.talkstack_webhook_token}"


def stored_events(rt) -> list[InboundEvent]:
    with rt.db.session() as session:
        return list(session.scalars(select(InboundEvent).where(InboundEvent.source == "talkstack")
                                    .order_by(InboundEvent.id)))


def count_rows(rt, model) -> int:
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_wrong_token_is_404_and_stores_nothing(client, rt):
    response = client.post(url_for(rt, "not-the-token"), json={"callSid": "CA1"})

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert rt.settings.talkstack_webhook_token not in response.get_data(as_text=True)
    assert count_rows(rt, InboundEvent) == 0
    assert rt.queue.pending_count() == 0


@pytest.mark.parametrize("body, call_id, status", [
    ({"callSid": "CA-json", "status": "completed"}, "CA-json", "completed"),
    ({"sid": "CA-sid"}, "CA-sid", None),
    ({"call_id": "CA-underscore", "callStatus": "busy"}, "CA-underscore", "busy"),
    ({"CallSid": "CA-twilio", "CallStatus": "no-answer"}, "CA-twilio", "no-answer"),
    ({"call": {"call_id": "CA-nested", "status": "ringing"}, "message": "ok"}, "CA-nested",
     "ringing"),
    ({"call": {"sid": "CA-nested-sid"}}, "CA-nested-sid", None),
])
def test_json_body_is_stored_raw_with_the_call_id(client, rt, body, call_id, status):
    raw = json.dumps(body).encode()

    response = client.post(url_for(rt), data=raw, content_type="application/json")

    assert response.status_code == 204
    assert response.get_data() == b""
    [event] = stored_events(rt)
    assert event.raw_body == raw
    assert event.state == "pending"
    assert event.payload == {"callId": call_id, "status": status}
    assert rt.queue.pending_count() == 1  # process_event → reconcile


def test_form_body_is_stored_raw_with_the_call_id(client, rt):
    response = client.post(url_for(rt), data={"CallSid": "CA-form", "CallStatus": "completed",
                                              "To": "+14155550101"})

    assert response.status_code == 204
    [event] = stored_events(rt)
    assert event.payload == {"callId": "CA-form", "status": "completed"}
    assert b"CallSid=CA-form" in event.raw_body
    assert event.content_type.startswith("application/x-www-form-urlencoded")


@pytest.mark.parametrize("raw, content_type", [
    (b"", None),
    (b"", "application/json"),
    (b"not json at all", "application/json"),
    (b'["CA-in-a-list"]', "application/json"),
    (b'{"status": "completed"}', "application/json"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
])
def test_body_without_a_call_id_is_stored_as_unmatched(client, rt, raw, content_type):
    response = client.post(url_for(rt), data=raw, content_type=content_type)

    assert response.status_code == 204
    [event] = stored_events(rt)
    assert event.state == "unmatched"
    assert event.raw_body == raw
    assert event.payload["callId"] is None
    assert rt.queue.pending_count() == 0  # nothing to reconcile


def test_the_same_delivery_five_times_is_stored_once(client, rt):
    for _ in range(5):
        assert client.post(url_for(rt), json={"callSid": "CA-dup"}).status_code == 204

    assert len(stored_events(rt)) == 1
    assert rt.queue.pending_count() == 1


def test_different_payloads_for_one_call_are_each_stored(client, rt):
    for status in ("ringing", "in-progress", "completed"):
        client.post(url_for(rt), json={"callSid": "CA-stages", "status": status})

    assert [e.payload["status"] for e in stored_events(rt)] == ["ringing", "in-progress",
                                                                "completed"]


def place_call(talkstack_sim, number: str, variables: dict | None = None) -> str:
    """A call the connector did not start (the Talkstack dashboard, another tool)."""
    response = requests.post(f"{talkstack_sim.url}/call/makeCall", timeout=5,
                             headers={"x-api-key": talkstack_sim.api_key},
                             json={"number": number, "projectId": talkstack_sim.project_id,
                                   "agentId": "agent-default",
                                   "dynamicVariables": variables or {}})
    return response.json()["call"]["call_id"]


def call_row(rt, sid: str) -> Call | None:
    with rt.db.session() as session:
        return session.scalar(select(Call).where(Call.talkstack_call_id == sid))


def test_a_webhook_makes_the_worker_track_and_confirm_the_call(make_app, worker_for,
                                                               talkstack_sim, hubspot_sim):
    """The payload is a hint: the status comes from Get call data, not from the body."""
    app = make_app()
    rt = app.extensions["connector"]
    talkstack_sim.script_outcome("+14155550123", "voicemail", seconds=21)
    sid = place_call(talkstack_sim, "+14155550123")
    wait_for(lambda: talkstack_sim.status_of(sid) == "voicemail", message="call final")
    worker_for(app)

    # The body lies ("completed"); the stored outcome is what Talkstack confirms.
    response = app.test_client().post(url_for(rt), json={"callSid": sid, "status": "completed"})

    assert response.status_code == 204
    call = wait_for(lambda: (row := call_row(rt, sid)) and row.is_final and row,
                    message="call confirmed")
    assert (call.status, call.seconds, call.outcome) == ("voicemail", 21, "Left voicemail")
    # Nobody asked for this call and nobody has the number: recorded, visibly unmatched.
    assert (call.contact_id, call.match) == (None, "none")
    assert [r.json["sid"] for r in talkstack_sim.requests_to("/call")] == [sid]
    assert hubspot_sim.calls == {}


def test_calls_we_did_not_start_are_matched_by_echoed_id_then_by_number(live, worker_for,
                                                                        hubspot_sim,
                                                                        talkstack_sim):
    app, _url = live()
    worker_for(app)
    rt = app.extensions["connector"]
    by_variable = hubspot_sim.add_contact(phone="+14155550171")
    by_number = hubspot_sim.add_contact(phone="+14155550172")
    for number in ("+14155550171", "+14155550172", "+14155550173"):
        talkstack_sim.script_outcome(number, "completed", seconds=10)

    echoed = place_call(talkstack_sim, "+14155550171", {"hubspot_contact_id": by_variable})
    searched = place_call(talkstack_sim, "+14155550172", {"firstname": "Bo"})
    nobody = place_call(talkstack_sim, "+14155550173")

    rows = {sid: wait_for(lambda s=sid: (row := call_row(rt, s)) and row.is_final and row,
                          message=sid) for sid in (echoed, searched, nobody)}
    assert (rows[echoed].contact_id, rows[echoed].match) == (by_variable, "variable")
    assert (rows[searched].contact_id, rows[searched].match) == (by_number, "number")
    assert (rows[nobody].contact_id, rows[nobody].match) == (None, "none")
    wait_for(lambda: len(hubspot_sim.calls) == 2, message="two engagements")
    linked = sorted(c for e in hubspot_sim.calls.values() for c in e["associations"])
    assert linked == sorted([by_variable, by_number])  # the unmatched call is not written


def test_an_unknown_status_is_logged_and_treated_as_not_final(live, worker_for, hubspot_sim,
                                                              talkstack_sim, caplog):
    app, _url = live(CALL_RETRY_STATUSES="")
    worker_for(app)
    rt = app.extensions["connector"]
    odd = f"on-hold-{uuid.uuid4().hex[:6]}"  # logged once per process, so a fresh one
    talkstack_sim.script_outcome("+14155550174", odd)
    contact_id = hubspot_sim.add_contact(phone="+14155550174")
    sid = place_call(talkstack_sim, "+14155550174", {"hubspot_contact_id": contact_id})

    app.test_client().post(url_for(rt), json={"callSid": sid, "status": odd})

    wait_for(lambda: (row := call_row(rt, sid)) and row.status == odd, message="checked")
    row = call_row(rt, sid)
    assert row.is_final is False and row.next_check_at is not None  # checked again later
    assert any(odd in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert hubspot_sim.calls == {}

    talkstack_sim.force_final(sid, "completed")
    wait_for(lambda: hubspot_sim.calls, message="written once final")
    assert call_row(rt, sid).status == "completed"

"""POST /webhooks/talkstack/<token>: any body is stored raw, the call id extracted, a
reconcile enqueued; a wrong token stores nothing (SPEC §4, issue 4 item 1)."""

from __future__ import annotations

import json

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


def test_a_webhook_makes_the_worker_track_and_confirm_the_call(make_app, talkstack_sim,
                                                               hubspot_sim):
    """The payload is a hint: the status comes from Get call data, not from the body."""
    from jobs.worker import Worker

    app = make_app()
    rt = app.extensions["connector"]
    talkstack_sim.script_outcome("+14155550123", "voicemail", seconds=21)
    placed = requests.post(f"{talkstack_sim.url}/call/makeCall", timeout=5,
                           headers={"x-api-key": talkstack_sim.api_key},
                           json={"number": "+14155550123", "projectId": talkstack_sim.project_id,
                                 "agentId": "agent-default"}).json()
    sid = placed["call"]["call_id"]
    wait_for(lambda: talkstack_sim.status_of(sid) == "voicemail", message="call final")
    worker = Worker(rt, threads=2, sweep_interval=0.3)
    worker.start()
    try:
        # The body lies ("completed"); the stored outcome is what Talkstack confirms.
        response = app.test_client().post(url_for(rt), json={"callSid": sid,
                                                             "status": "completed"})
        assert response.status_code == 204

        def final_call():
            with rt.db.session() as session:
                return session.scalar(select(Call).where(Call.talkstack_call_id == sid,
                                                         Call.is_final.is_(True)))

        call = wait_for(final_call, message="call confirmed")
    finally:
        worker.stop()
    assert (call.status, call.seconds, call.outcome) == ("voicemail", 21, "Left voicemail")
    # Nobody asked for this call and nobody has the number: recorded, visibly unmatched.
    assert call.contact_id is None
    assert call.match == "none"
    assert [r.json["sid"] for r in talkstack_sim.requests_to("/call")] == [sid]
    assert hubspot_sim.calls == {}

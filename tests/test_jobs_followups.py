"""Follow-up attempts (SPEC §5.6): retry statuses earn another attempt of the same trigger
after the delay, up to CALL_MAX_ATTEMPTS; each attempt has its own engagement."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for

NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"
DELAY_MINUTES = 0.01  # 0.6 s


class Pipeline:
    def __init__(self, app):
        self.app = app
        self.rt = app.extensions["connector"]
        self.headers = {"Authorization": f"Bearer {self.rt.settings.api_token}"}

    def start_call(self, contact_id: str) -> int:
        response = self.app.test_client().post("/api/calls", json={"contactId": contact_id},
                                               headers=self.headers)
        assert response.status_code == 202
        return response.get_json()["id"]

    def view(self, request_id: int) -> dict:
        return self.app.test_client().get(f"/api/calls/{request_id}",
                                          headers=self.headers).get_json()


@pytest.fixture
def pipeline(live, worker_for):
    def build(**env) -> Pipeline:
        app, _url = live(**env)
        worker_for(app)
        return Pipeline(app)

    return build


def engagements_of(hubspot_sim, contact_id: str) -> list[dict]:
    return [dict(e["properties"]) for _id, e in sorted(hubspot_sim.calls.items())
            if contact_id in e["associations"]]


def dials_to(talkstack_sim, number: str):
    return [r for r in talkstack_sim.requests_to("/call/makeCall") if r.json["number"] == number]


def test_a_contact_that_never_answers_is_called_max_attempts_times_then_left_alone(
        pipeline, hubspot_sim, talkstack_sim):
    p = pipeline(CALL_MAX_ATTEMPTS="3", CALL_RETRY_DELAY_MINUTES=str(DELAY_MINUTES))
    assert p.rt.settings.call_retry_delay_minutes == DELAY_MINUTES
    number = "+14155550131"
    talkstack_sim.script_outcome(number, "no-answer")
    contact_id = hubspot_sim.add_contact(firstname="Never", phone=number)

    request_id = p.start_call(contact_id)

    wait_for(lambda: p.view(request_id)["state"] == "done", timeout=20, message="attempts done")
    wait_for(lambda: len(engagements_of(hubspot_sim, contact_id)) == 3
             and hubspot_sim.contacts[contact_id].get("talkstack_last_call_id")
             == talkstack_sim.call_list()[-1].sid, message="three engagements")
    dials = dials_to(talkstack_sim, number)
    assert len(dials) == 3
    assert all(later.at - earlier.at >= DELAY_MINUTES * 60
               for earlier, later in zip(dials, dials[1:], strict=False))
    engagements = engagements_of(hubspot_sim, contact_id)
    assert [e["hs_call_status"] for e in engagements] == ["NO_ANSWER"] * 3
    assert [e["hs_call_disposition"] for e in engagements] == [NO_ANSWER] * 3
    for attempt, engagement in enumerate(engagements, start=1):
        assert f"<strong>Attempt:</strong> {attempt}<" in engagement["hs_call_body"]
    sids = {c.sid for c in talkstack_sim.call_list()}
    named = [[sid for sid in sids if sid in e["hs_call_body"]] for e in engagements]
    assert sorted(sid for [sid] in named) == sorted(sids)  # each names its own call
    contact = hubspot_sim.contacts[contact_id]
    assert contact["talkstack_call_attempts"] == "3"
    assert contact["talkstack_last_call_status"] == "no-answer"
    assert p.view(request_id)["attempts"] == 3

    # Left alone: several sweeps and retry delays later, still three dials.
    deadline = time.monotonic() + 4 * DELAY_MINUTES * 60
    while time.monotonic() < deadline:
        assert len(dials_to(talkstack_sim, number)) == 3
        time.sleep(0.1)

    # A new trigger is a new request, and the cooldown (not the attempts) blocks it.
    again = p.start_call(contact_id)
    wait_for(lambda: p.view(again)["state"] == "skipped", message="second trigger decided")
    assert p.view(again)["reason"] == "cooldown"
    assert len(dials_to(talkstack_sim, number)) == 3


def test_follow_ups_stop_at_the_first_answered_attempt(pipeline, hubspot_sim, talkstack_sim):
    p = pipeline(CALL_MAX_ATTEMPTS="3", CALL_RETRY_DELAY_MINUTES=str(DELAY_MINUTES))
    number = "+14155550132"
    talkstack_sim.script_outcome(number, "busy", repeat=False)
    talkstack_sim.script_outcome(number, "completed", seconds=30)
    contact_id = hubspot_sim.add_contact(firstname="Second", phone=number)

    request_id = p.start_call(contact_id)

    wait_for(lambda: p.view(request_id)["state"] == "done", timeout=20, message="done")
    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_last_call_status")
             == "completed" and len(engagements_of(hubspot_sim, contact_id)) == 2,
             message="both attempts written")
    assert [e["hs_call_status"] for e in engagements_of(hubspot_sim, contact_id)] == \
        ["BUSY", "COMPLETED"]
    assert hubspot_sim.contacts[contact_id]["talkstack_call_attempts"] == "2"
    assert len(dials_to(talkstack_sim, number)) == 2
    view = p.view(request_id)
    assert (view["attempts"], view["status"], view["outcome"]) == (2, "completed", "Connected")


def test_only_the_configured_statuses_earn_a_follow_up(pipeline, hubspot_sim, talkstack_sim):
    p = pipeline(CALL_MAX_ATTEMPTS="3", CALL_RETRY_DELAY_MINUTES="0",
                 CALL_RETRY_STATUSES="voicemail")
    talkstack_sim.script_outcome("+14155550133", "no-answer")
    talkstack_sim.script_outcome("+14155550134", "voicemail", seconds=15)
    unanswered = hubspot_sim.add_contact(phone="+14155550133")
    voicemail = hubspot_sim.add_contact(phone="+14155550134")

    first, second = p.start_call(unanswered), p.start_call(voicemail)

    wait_for(lambda: p.view(first)["state"] == "done" and p.view(second)["state"] == "done",
             timeout=20, message="both done")
    assert len(dials_to(talkstack_sim, "+14155550133")) == 1
    assert len(dials_to(talkstack_sim, "+14155550134")) == 3
    assert p.view(second)["attempts"] == 3

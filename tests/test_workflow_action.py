"""The "Call with Talkstack AI" custom workflow action, end to end against both simulators
(SPEC §4 action rows, issue 6): signed request → BLOCK → call → callback completion."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from store.models import CachedValue, InboundEvent
from tests.conftest import wait_for
from webhooks.signatures import signed_headers

ACTION_PATH = "/webhooks/hubspot/actions/call"
OPTIONS_PATH = "/webhooks/hubspot/actions/options/agents"
RULES = """
[[analysis.questions]]
key = "interested"
question = "Is the contact interested in a demo?"
type = "Boolean"

[[analysis.questions]]
key = "seats"
question = "How many seats do they need?"
type = "Number"
"""


class Action:
    """The connector over HTTP, as HubSpot's workflow engine sees it."""

    def __init__(self, app, url: str, secret: str):
        self.app, self.url, self.secret = app, url, secret
        self.rt = app.extensions["connector"]

    def post(self, path: str, body: dict, *, version: str = "v3", secret: str | None = None):
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **signed_headers(
            secret or self.secret, version, "POST", self.url + path, raw,
            int(time.time() * 1000))}
        return requests.post(self.url + path, data=raw, headers=headers, timeout=5)

    def execute(self, contact_id: str, callback_id: str | None = None, *, version="v3",
                inputs: dict | None = None):
        body = {
            "callbackId": callback_id or f"ap-62515-{uuid.uuid4().int % 10**10}-7-0",
            "origin": {"portalId": 62515, "actionDefinitionId": 7001,
                       "actionDefinitionVersion": 1},
            "context": {"source": "WORKFLOWS", "workflowId": 192814114},
            "object": {"objectId": int(contact_id), "objectType": "CONTACT", "properties": {}},
            "inputFields": inputs or {},
        }
        started = time.monotonic()
        response = self.post(ACTION_PATH, body, version=version)
        assert response.status_code == 200, response.text
        assert response.json() == {"outputFields": {"hs_execution_state": "BLOCK"}}
        assert time.monotonic() - started < 1.0  # answered at once, not after the call
        return body["callbackId"]


@pytest.fixture
def action(live, worker_for, hubspot_sim):
    def build(**env) -> Action:
        app, url = live(**env)
        worker_for(app)
        return Action(app, url, hubspot_sim.client_secret)

    return build


def completions_for(hubspot_sim, callback_id: str) -> list[dict]:
    return [fields for cb, fields in list(hubspot_sim.callback_completions) if cb == callback_id]


def completed(hubspot_sim, callback_id: str, timeout: float = 20) -> dict:
    [fields] = wait_for(lambda: completions_for(hubspot_sim, callback_id), timeout=timeout,
                        message=f"callback {callback_id} completed")
    return fields


def dials(talkstack_sim):
    return talkstack_sim.requests_to("/call/makeCall")


def test_a_completed_call_completes_the_callback_with_typed_outputs(action, hubspot_sim,
                                                                    talkstack_sim, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    a = action(CONNECTOR_CONFIG=str(rules))
    talkstack_sim.script_outcome("+14155550161", "completed", seconds=95, answers={
        "Is the contact interested in a demo?": "yes", "How many seats do they need?": 12})
    contact_id = hubspot_sim.add_contact(firstname="Grace", phone="+14155550161")

    callback_id = a.execute(contact_id, inputs={"agentId": "agent-renewals",
                                                "variables": "plan=gold\noffer = 20% off"})

    outputs = completed(hubspot_sim, callback_id)
    [call] = talkstack_sim.call_list()
    assert outputs == {
        "hs_execution_state": "SUCCESS",
        "call_status": "completed",
        "call_outcome": "Connected",
        "duration_seconds": 95,
        "talkstack_call_id": call.sid,
        "recording_url": call.recording_urls[0],
        "attempts": 1,
        "interested": "true",
        "seats": 12,
    }
    [dial] = dials(talkstack_sim)
    assert dial.json["agentId"] == "agent-renewals"
    assert dial.json["dynamicVariables"]["plan"] == "gold"
    assert dial.json["dynamicVariables"]["offer"] == "20% off"
    assert dial.json["dynamicVariables"]["hubspot_contact_id"] == contact_id
    # the same call is written back like any other
    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_interested") == "true",
             message="contact written")


def test_busy_and_unanswered_calls_succeed_after_their_follow_ups(action, hubspot_sim,
                                                                  talkstack_sim):
    a = action(CALL_MAX_ATTEMPTS="2", CALL_RETRY_DELAY_MINUTES="0.01")
    talkstack_sim.script_outcome("+14155550162", "busy")
    talkstack_sim.script_outcome("+14155550163", "no-answer")
    busy = hubspot_sim.add_contact(phone="+14155550162")
    unanswered = hubspot_sim.add_contact(phone="+14155550163")

    busy_cb = a.execute(busy, version="v2")  # HubSpot states v2 for action requests
    unanswered_cb = a.execute(unanswered, version="v3")

    for callback_id, number, status, outcome in (
            (busy_cb, "+14155550162", "busy", "Busy"),
            (unanswered_cb, "+14155550163", "no-answer", "No answer")):
        outputs = completed(hubspot_sim, callback_id)
        sids = [c.sid for c in talkstack_sim.call_list() if c.number == number]
        assert len(sids) == 2, (number, sids, outputs)
        assert outputs == {"hs_execution_state": "SUCCESS", "call_status": status,
                           "call_outcome": outcome, "duration_seconds": 0,
                           "talkstack_call_id": sids[-1], "attempts": 2}
    assert len(hubspot_sim.callback_completions) == 2


@pytest.mark.parametrize("properties, reason", [
    ({"firstname": "No phone"}, "no_number"),
    ({"phone": "+14155550164", "talkstack_do_not_call": "true"}, "opted_out"),
    ({"phone": "12"}, "invalid_number"),
])
def test_a_skipped_contact_fails_continue_with_its_reason(action, hubspot_sim, talkstack_sim,
                                                          properties, reason):
    a = action()
    contact_id = hubspot_sim.add_contact(**properties)

    callback_id = a.execute(contact_id)

    assert completed(hubspot_sim, callback_id) == {"hs_execution_state": "FAIL_CONTINUE",
                                                   "reason": reason}
    assert dials(talkstack_sim) == []
    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_last_skip_reason")
             == reason, message="skip reason on the contact")


def test_a_dial_that_fails_permanently_fails_continue(action, hubspot_sim, talkstack_sim):
    a = action()
    talkstack_sim.fail_next(1, 400, path_prefix="/call/makeCall")
    contact_id = hubspot_sim.add_contact(phone="+14155550165")

    callback_id = a.execute(contact_id)

    assert completed(hubspot_sim, callback_id) == {"hs_execution_state": "FAIL_CONTINUE",
                                                   "reason": "dial_failed"}


def test_the_same_callback_delivered_again_starts_no_second_call(action, hubspot_sim,
                                                                 talkstack_sim):
    a = action(CALL_RETRY_STATUSES="")
    talkstack_sim.script_outcome("+14155550166", "voicemail", seconds=14)
    contact_id = hubspot_sim.add_contact(phone="+14155550166")
    callback_id = a.execute(contact_id)
    a.execute(contact_id, callback_id, version="v2")  # HubSpot retried the delivery

    outputs = completed(hubspot_sim, callback_id)
    a.execute(contact_id, callback_id)  # even after the call is over

    assert outputs["call_outcome"] == "Left voicemail"
    wait_for(lambda: _events(a.rt) == 1, message="one recorded execution")
    assert len(dials(talkstack_sim)) == 1
    assert len(completions_for(hubspot_sim, callback_id)) == 1


def _events(rt) -> int:
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.source == "hubspot_action"))


@pytest.mark.parametrize("version, secret", [("v3", "wrong-secret"), ("v2", "wrong-secret"),
                                             ("v1", None)])
def test_badly_signed_executions_are_refused_and_not_stored(action, hubspot_sim, talkstack_sim,
                                                           version, secret):
    a = action()
    contact_id = hubspot_sim.add_contact(phone="+14155550167")
    body = {"callbackId": "ap-forged", "object": {"objectId": int(contact_id)}}

    response = a.post(ACTION_PATH, body, version=version, secret=secret)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert _events(a.rt) == 0


def test_agent_options_come_from_the_cached_talkstack_agents(action, hubspot_sim, talkstack_sim):
    a = action()
    request = {"origin": {"portalId": 62515}, "inputFieldName": "agentId", "fetchOptions": {}}
    with a.rt.db.session() as session:
        session.query(CachedValue).delete()  # as on a fresh install

    before = a.post(OPTIONS_PATH, request)

    assert before.status_code == 200
    # nothing cached yet: the default agent, and a refresh was asked for
    assert before.json()["options"][0]["value"] == "agent-default"
    wait_for(lambda: _cached_agents(a.rt), message="refresh_agents ran")
    after = a.post(OPTIONS_PATH, request, version="v2").json()
    assert after["options"] == [{"label": "Sales agent", "value": "agent-default"},
                                {"label": "Renewals agent", "value": "agent-renewals"}]
    searched = a.post(OPTIONS_PATH, {**request, "fetchOptions": {"q": "renew"}}).json()
    assert searched["options"] == [{"label": "Renewals agent", "value": "agent-renewals"}]

    with a.rt.db.session() as session:  # an hour later, the cache is stale
        cached = session.get(CachedValue, "talkstack_agents")
        cached.updated_at = stale_at = cached.updated_at - timedelta(hours=1)
    assert a.post(OPTIONS_PATH, request).json()["options"] == after["options"]  # stale, at once
    wait_for(lambda: _cache_time(a.rt) > stale_at + timedelta(minutes=30), message="refreshed")


def test_agent_options_are_signature_protected(action):
    a = action()
    response = requests.post(a.url + OPTIONS_PATH, json={"fetchOptions": {}}, timeout=5)
    assert response.status_code == 401
    forged = a.post(OPTIONS_PATH, {"fetchOptions": {}}, secret="wrong-secret")
    assert forged.status_code == 401
    assert "options" not in forged.json()


def _cache_time(rt):
    with rt.db.session() as session:
        return session.get(CachedValue, "talkstack_agents").updated_at


def _cached_agents(rt):
    with rt.db.session() as session:
        cached = session.get(CachedValue, "talkstack_agents")
        return cached.value if cached else None

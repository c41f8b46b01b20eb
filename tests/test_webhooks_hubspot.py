"""POST /webhooks/hubspot: signed app webhooks → exactly one call per trigger (issue 3)."""

from __future__ import annotations

import json
import time

import phonenumbers
import pytest
from sqlalchemy import func, select

from store.models import CallRequest, InboundEvent
from tests.conftest import wait_for
from webhooks.signatures import signed_headers


def make_calls(talkstack_sim):
    return [r for r in talkstack_sim.requests if r.path.endswith("/call/makeCall")]


def us_number(i: int) -> str:
    return f"(415) 555-{2000 + i:04d}"


def test_100_events_make_exactly_100_calls_and_redeliveries_make_none(
    live, hubspot_sim, talkstack_sim, worker_for
):
    app, url = live()
    worker_for(app)
    ids = [
        hubspot_sim.add_contact(
            firstname=f"Ann{i}", lastname="Lee", company="Acme", phone=us_number(i)
        )
        for i in range(100)
    ]
    events = [hubspot_sim.property_change_event(c, "talkstack_call_requested", "true") for c in ids]
    assert hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", events).status_code == 204
    wait_for(lambda: len(make_calls(talkstack_sim)) >= 100, 30, message="100 makeCalls")
    for _ in range(3):  # HubSpot redelivers (attemptNumber changes, the key does not)
        again = [{**e, "attemptNumber": e["attemptNumber"] + 1} for e in events]
        assert hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", again).status_code == 204
    rt = app.extensions["connector"]
    wait_for(lambda: _all_events_settled(rt), 20, message="events processed")
    calls = make_calls(talkstack_sim)
    assert len(calls) == 100
    by_contact = {c.json["dynamicVariables"]["hubspot_contact_id"]: c.json for c in calls}
    assert sorted(by_contact) == sorted(ids)
    for i, contact_id in enumerate(ids):
        body = by_contact[contact_id]
        expected = phonenumbers.format_number(
            phonenumbers.parse(us_number(i), "US"), phonenumbers.PhoneNumberFormat.E164
        )
        assert body["number"] == expected
        assert body["agentId"] == "agent-default"
        assert body["dynamicVariables"] == {
            "firstname": f"Ann{i}",
            "lastname": "Lee",
            "company": "Acme",
            "hubspot_contact_id": contact_id,
        }
    with rt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(CallRequest)) == 100


def _all_events_settled(rt) -> bool:
    with rt.db.session() as session:
        return not session.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.state == "pending")
        )


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"phone": ""}, "no_number"),
        ({"phone": "12"}, "invalid_number"),
        ({"phone": "(415) 555-0101", "talkstack_do_not_call": "true"}, "opted_out"),
    ],
)
def test_contacts_that_must_not_be_called_get_a_reason_and_no_call(
    live, hubspot_sim, talkstack_sim, worker_for, properties, reason
):
    app, url = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(firstname="Bo", **properties)
    event = hubspot_sim.property_change_event(contact, "talkstack_call_requested", "true")
    assert hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", [event]).status_code == 204
    wait_for(
        lambda: hubspot_sim.contacts[contact].get("talkstack_last_skip_reason") == reason,
        15,
        message=f"skip reason {reason}",
    )
    rt = app.extensions["connector"]
    with rt.db.session() as session:
        request = session.scalar(select(CallRequest))
        assert (request.state, request.reason) == ("skipped", reason)
    assert make_calls(talkstack_sim) == []


def test_mobilephone_is_the_fallback(live, hubspot_sim, talkstack_sim, worker_for):
    app, url = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="nope", mobilephone="+44 20 7946 0958")
    event = hubspot_sim.property_change_event(contact, "talkstack_call_requested", "true")
    hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", [event])
    call = wait_for(lambda: make_calls(talkstack_sim), 15)[0]
    assert call.json["number"] == "+442079460958"


def test_cooldown_blocks_a_new_trigger_and_is_recorded(
    live, hubspot_sim, talkstack_sim, worker_for
):
    app, url = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="(415) 555-0142")
    first = hubspot_sim.property_change_event(contact, "talkstack_call_requested", "true")
    hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", [first])
    wait_for(lambda: make_calls(talkstack_sim), 15)
    second = hubspot_sim.property_change_event(contact, "talkstack_call_requested", "true")
    hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", [second])
    wait_for(
        lambda: hubspot_sim.contacts[contact].get("talkstack_last_skip_reason") == "cooldown",
        15,
        message="cooldown reason",
    )
    assert len(make_calls(talkstack_sim)) == 1


def test_other_properties_and_false_values_start_nothing(
    live, hubspot_sim, talkstack_sim, worker_for
):
    app, url = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="(415) 555-0143")
    events = [
        hubspot_sim.property_change_event(contact, "talkstack_call_requested", "false"),
        hubspot_sim.property_change_event(contact, "lifecyclestage", "lead"),
    ]
    hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", events)
    rt = app.extensions["connector"]
    wait_for(lambda: _states(rt) == ["ignored", "ignored"], 15, message="events ignored")
    assert make_calls(talkstack_sim) == []


def _states(rt) -> list[str]:
    with rt.db.session() as session:
        return list(session.scalars(select(InboundEvent.state).order_by(InboundEvent.id)))


def test_contact_creation_calls_only_when_enabled(live, hubspot_sim, talkstack_sim, worker_for):
    app, url = live(CALL_ON_CONTACT_CREATION="true")
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="(415) 555-0144")
    event = {
        **hubspot_sim.property_change_event(contact, "x", "y"),
        "subscriptionType": "contact.creation",
    }
    for key in ("propertyName", "propertyValue"):
        event.pop(key)
    hubspot_sim.deliver_webhook(url + "/webhooks/hubspot", [event])
    wait_for(lambda: make_calls(talkstack_sim), 15, message="call on creation")


# --- rejections: nothing recorded, nothing called -------------------------------------

URI = "https://connector.example.com/webhooks/hubspot"


def signed(
    client,
    rt,
    body: bytes,
    *,
    version="v3",
    now_ms=None,
    secret=None,
    uri=URI,
    content_type="application/json",
):
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    headers = signed_headers(
        secret or rt.settings.hubspot_client_secret, version, "POST", uri, body, now_ms
    )
    return client.post(
        "/webhooks/hubspot", data=body, headers={**headers, "Content-Type": content_type}
    )


def valid_body(object_id=123) -> bytes:
    return json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionId": 2,
                "portalId": 3,
                "occurredAt": 4,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": object_id,
                "propertyName": "talkstack_call_requested",
                "propertyValue": "true",
            }
        ]
    ).encode()


def nothing_recorded(rt) -> bool:
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(InboundEvent)) == 0


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_each_signature_version_is_accepted(client, rt, version):
    assert signed(client, rt, valid_body(), version=version).status_code == 204
    assert not nothing_recorded(rt)


def now_ms() -> int:
    return int(time.time() * 1000)


REJECTIONS = {  # built at call time: the clock moves while the suite runs
    "wrong secret": lambda: dict(secret="not-the-secret"),
    "stale timestamp": lambda: dict(now_ms=now_ms() - 301_000),
    "future timestamp": lambda: dict(now_ms=now_ms() + 301_000),
    "signed another uri": lambda: dict(uri="https://evil.example.com/webhooks/hubspot"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_bad_signatures_are_401_and_record_nothing(client, rt, case):
    response = signed(client, rt, valid_body(), **REJECTIONS[case]())
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_signature"
    assert nothing_recorded(rt)


def test_missing_signature_is_401(client, rt):
    response = client.post(
        "/webhooks/hubspot", data=valid_body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert nothing_recorded(rt)


def test_body_changed_after_signing_is_401(client, rt):
    now_ms = int(time.time() * 1000)
    headers = signed_headers(
        rt.settings.hubspot_client_secret, "v3", "POST", URI, valid_body(), now_ms
    )
    response = client.post("/webhooks/hubspot", data=valid_body(object_id=124), headers=headers)
    assert response.status_code == 401
    assert nothing_recorded(rt)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"a": 1}',
        b"[1, 2]",
        b'[{"objectId": "abc"}]',
        json.dumps(
            [
                {
                    "eventId": "x",
                    "portalId": 1,
                    "occurredAt": 1,
                    "objectId": 1,
                    "subscriptionType": "contact.creation",
                }
            ]
        ).encode(),
        json.dumps([{"eventId": 1, "portalId": 1, "occurredAt": 1, "objectId": 5}]).encode(),
        b"\xff\xfe",
    ],
)
def test_malformed_or_wrongly_typed_bodies_are_400_and_record_nothing(client, rt, body):
    response = signed(client, rt, body)
    assert response.status_code == 400
    assert set(response.json["error"]) == {"code", "message"}
    assert nothing_recorded(rt)


def test_oversized_body_is_413(client, rt):
    body = b"[" + b" " * (1024 * 1024) + b"]"
    response = signed(client, rt, body)
    assert response.status_code == 413
    assert response.json["error"]["code"]
    assert nothing_recorded(rt)


def test_query_string_is_part_of_the_signed_uri(client, rt):
    body = valid_body()
    uri = URI + "?portal=1&tag=a%3Ab"
    now_ms = int(time.time() * 1000)
    headers = signed_headers(rt.settings.hubspot_client_secret, "v3", "POST", uri, body, now_ms)
    response = client.post("/webhooks/hubspot?portal=1&tag=a%3Ab", data=body, headers=headers)
    assert response.status_code == 204

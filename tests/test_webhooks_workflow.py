"""POST /webhooks/hubspot/workflow: the "Send a webhook" action, one contact per request."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from store.models import CallRequest, InboundEvent
from tests.conftest import wait_for
from webhooks.hubspot import contact_id_from
from webhooks.signatures import signed_headers

PATH = "/webhooks/hubspot/workflow"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"objectId": 101, "hs_object_id": "7"}, "101"),
        ({"hs_object_id": "102"}, "102"),
        ({"properties": {"hs_object_id": "103"}}, "103"),
        ({"properties": {"hs_object_id": {"value": "104"}}}, "104"),
        ({"vid": 105, "properties": {}}, "105"),
        ({"objectId": "x", "vid": 106}, "106"),
        ({"objectId": True}, None),
        ({"properties": {"firstname": "A"}}, None),
    ],
)
def test_contact_id_lookup_order(body, expected):
    assert contact_id_from(body) == expected


def bearer(rt):
    return {"Authorization": f"Bearer {rt.settings.api_token}"}


def count(rt, model):
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_bearer_token_or_signature_is_required(client, rt):
    body = json.dumps({"objectId": 1}).encode()
    assert client.post(PATH, data=body).status_code == 401
    wrong = client.post(PATH, data=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert count(rt, InboundEvent) == 0
    uri = "https://connector.example.com" + PATH
    for version in ("v2", "v3"):
        headers = signed_headers(
            rt.settings.hubspot_client_secret, version, "POST", uri, body, int(time.time() * 1000)
        )
        assert client.post(PATH, data=body, headers=headers).status_code == 204
    assert client.post(PATH, data=body, headers=bearer(rt)).status_code == 204


def test_body_without_a_contact_is_400(client, rt):
    response = client.post(PATH, json={"properties": {"email": "a@b.c"}}, headers=bearer(rt))
    assert response.status_code == 400
    assert client.post(PATH, json=[1], headers=bearer(rt)).status_code == 400
    assert count(rt, InboundEvent) == 0


def test_redelivery_with_the_same_correlation_id_never_calls_twice(
    live, hubspot_sim, talkstack_sim, worker_for
):
    app, url = live()
    worker_for(app)
    rt = app.extensions["connector"]
    contact = hubspot_sim.add_contact(phone="(415) 555-0199", firstname="Cy")
    import requests

    headers = {**bearer(rt), "X-HubSpot-Correlation-Id": "corr-1"}
    for attempt in range(3):  # the body may differ between deliveries; the id does not
        body = {"objectId": int(contact), "properties": {"n": str(attempt)}}
        assert requests.post(url + PATH, json=body, headers=headers, timeout=5).status_code == 204
    same_body = {"objectId": int(contact), "properties": {"x": "1"}}
    for _ in range(2):  # without a correlation id, the same body is the same enrolment
        assert (
            requests.post(url + PATH, json=same_body, headers=bearer(rt), timeout=5).status_code
            == 204
        )
    wait_for(
        lambda: len([r for r in talkstack_sim.requests if r.path.endswith("makeCall")]) >= 1, 15
    )
    wait_for(lambda: count(rt, CallRequest) == 2, 10, message="two requests")
    # Two triggers (one per enrolment); the second is inside the cooldown: one call only.
    wait_for(lambda: _reasons(rt) == [None, "cooldown"], 15, message="second is cooldown")
    assert len([r for r in talkstack_sim.requests if r.path.endswith("makeCall")]) == 1


def _reasons(rt):
    with rt.db.session() as session:
        return list(session.scalars(select(CallRequest.reason).order_by(CallRequest.id)))

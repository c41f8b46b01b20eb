"""/api/calls and the OpenAPI document."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for


def test_openapi_is_public_and_describes_the_routes(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in ("/api/calls", "/api/calls/{id}", "/api/batches", "/api/batches/{id}"):
        assert path in spec["paths"]
    assert "contactId" in spec["components"]["schemas"]["CallCreate"]["properties"]


def test_auth_is_required(client):
    assert client.post("/api/calls", json={"contactId": "1"}).status_code == 401
    wrong = client.post(
        "/api/calls", json={"contactId": "1"}, headers={"Authorization": "Bearer wrong"}
    )
    assert wrong.status_code == 401
    assert wrong.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contactId": ""},
        {"contactId": "abc"},
        {"contactId": 12},
        {"contactId": "1", "variables": {"a": 1}},
        {"contactId": "1", "agentId": ""},
        ["contactId"],
    ],
)
def test_bad_bodies_are_400(client, api_headers, body):
    response = client.post("/api/calls", json=body, headers=api_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_body"


def test_unknown_call_is_404(client, api_headers):
    response = client.get("/api/calls/999", headers=api_headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_api_call_runs_the_policy_and_reports_the_outcome(
    live, hubspot_sim, talkstack_sim, worker_for
):
    app, _url = live()
    worker_for(app)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {app.extensions['connector'].settings.api_token}"}
    contact = hubspot_sim.add_contact(phone="+1 415 555 0177", firstname="Di")
    talkstack_sim.script_outcome("+14155550177", "completed", seconds=42)
    created = client.post(
        "/api/calls",
        json={"contactId": contact, "agentId": "agent-renewals", "variables": {"campaign": "q4"}},
        headers=headers,
    )
    assert created.status_code == 202
    call_id = created.json["id"]

    def finished():
        view = client.get(f"/api/calls/{call_id}", headers=headers).json
        return view if view["hubspotCallId"] else None

    view = wait_for(finished, 20, message="outcome written")
    assert view["contactId"] == contact and view["trigger"] == "api"
    assert (view["state"], view["status"], view["outcome"]) == ("done", "completed", "Connected")
    assert view["attempts"] == 1 and view["talkstackCallId"].startswith("CA")
    made = [r for r in talkstack_sim.requests if r.path.endswith("makeCall")][0].json
    assert made["agentId"] == "agent-renewals"
    assert made["dynamicVariables"]["campaign"] == "q4"
    assert hubspot_sim.calls[view["hubspotCallId"]]["properties"]["hs_call_duration"] == "42000"

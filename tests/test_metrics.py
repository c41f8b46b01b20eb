"""Metrics of what the worker does: calls started, vendor requests by status, outcomes."""

from __future__ import annotations

from metrics import REGISTRY
from tests.conftest import wait_for


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_vendor_requests_calls_and_outcomes_are_counted(
    live, hubspot_sim, talkstack_sim, worker_for
):
    before = {
        "talkstack": sample("connector_vendor_requests_total", vendor="talkstack", status="200"),
        "hubspot": sample("connector_vendor_requests_total", vendor="hubspot", status="ok"),
        "started": sample("connector_calls_started_total"),
        "written": sample("connector_outcomes_written_total", kind="call_engagement"),
    }
    app, _ = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="(415) 555-0111")
    headers = {"Authorization": f"Bearer {app.extensions['connector'].settings.api_token}"}
    app.test_client().post("/api/calls", json={"contactId": contact}, headers=headers)
    wait_for(
        lambda: (
            sample("connector_outcomes_written_total", kind="call_engagement") > before["written"]
        ),
        20,
        message="engagement written",
    )
    assert sample("connector_calls_started_total") == before["started"] + 1
    assert (
        sample("connector_vendor_requests_total", vendor="talkstack", status="200")
        > before["talkstack"]
    )
    assert (
        sample("connector_vendor_requests_total", vendor="hubspot", status="ok") > before["hubspot"]
    )
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'connector_vendor_requests_total{status="ok",vendor="hubspot"}' in text


def test_rejections_are_counted_by_reason(client):
    before = sample(
        "connector_events_rejected_total", source="hubspot_app", reason="missing_signature"
    )
    client.post("/webhooks/hubspot", data=b"[]")
    assert (
        sample("connector_events_rejected_total", source="hubspot_app", reason="missing_signature")
        == before + 1
    )

"""The sandbox in-process on free ports: demo data, every way to trigger a call, clean stop."""

from __future__ import annotations

import pytest
import requests

from sandbox import Sandbox, SandboxOptions, banner
from sandbox_demo import DEMO_CONTACTS
from sandbox_settings import SandboxPorts, sandbox_settings
from tests.conftest import wait_for


@pytest.fixture
def sandbox(tmp_path):
    running = Sandbox(SandboxOptions(ports=SandboxPorts(0, 0, 0), call_seconds=0.3),
                      environ={"INSTANCE_PATH": str(tmp_path / "sandbox")}, dotenv_path=None)
    running.start()
    yield running
    running.stop()


def contact_id(sandbox, first_name: str) -> str:
    return next(c["id"] for c in sandbox.demo["contacts"] if c["name"].startswith(first_name))


def engagement_for(sim, contact: str) -> dict | None:
    return next((call for call in list(sim.calls.values())
                 if contact in call.get("associations", [])), None)


def console_client(sandbox):
    client = sandbox.app.test_client()
    client.post("/login", data={"token": sandbox.rt.settings.api_token})
    with client.session_transaction() as session:
        return client, session["console_csrf"]


def test_sandbox_settings_point_every_vendor_at_loopback():
    settings = sandbox_settings({"HUBSPOT_API_BASE": "https://api.hubapi.com",
                                 "DATABASE_URL": "postgresql://prod/db", "PORT": "9000",
                                 "CALL_VARIABLES": "firstname,company"}, dotenv_path=None)
    assert settings.sandbox is True
    assert settings.hubspot_api_base == "http://127.0.0.1:8101"
    assert settings.talkstack_api_base == settings.talkstack_calls_base == "http://127.0.0.1:8102"
    assert settings.public_base_url == "http://127.0.0.1:9000"
    assert settings.database_url == "" and settings.api_token == "sandbox-token"
    assert settings.call_variables == ("firstname", "company")
    with pytest.raises(ValueError, match="SANDBOX_HUBSPOT_PORT"):
        sandbox_settings({"SANDBOX_HUBSPOT_PORT": "http"}, dotenv_path=None)


def test_demo_data_and_banner(sandbox):
    assert len(sandbox.demo["contacts"]) == len(DEMO_CONTACTS) >= 12
    listed = sandbox.hubspot_sim.lists[sandbox.demo["listId"]]["ids"]
    assert sorted(listed) == sorted(c["id"] for c in sandbox.demo["contacts"])
    opted_out = contact_id(sandbox, "Emma")
    assert sandbox.hubspot_sim.contacts[opted_out]["talkstack_do_not_call"] == "true"
    text = banner(sandbox)
    assert "SANDBOX" in text and sandbox.url in text and "sandbox-token" in text
    assert sandbox.talkstack_sim.webhook_url.startswith(sandbox.url + "/webhooks/talkstack/")
    client, _csrf = console_client(sandbox)
    page = client.get("/sandbox").get_data(as_text=True)
    assert "SANDBOX" in page and "Maya Okafor" in page and "Simulate property change" in page


def test_call_by_api_lands_in_simulated_hubspot(sandbox):
    maya = contact_id(sandbox, "Maya")
    headers = {"Authorization": f"Bearer {sandbox.rt.settings.api_token}"}
    created = requests.post(f"{sandbox.url}/api/calls", json={"contactId": maya},
                            headers=headers, timeout=5)
    assert created.status_code == 202
    engagement = wait_for(lambda: engagement_for(sandbox.hubspot_sim, maya), 20,
                          message="engagement in the simulated HubSpot")
    assert engagement["properties"]["hs_call_status"] == "COMPLETED"
    view = requests.get(f"{sandbox.url}/api/calls/{created.json()['id']}", headers=headers,
                        timeout=5).json()
    assert view["status"] == "completed"
    assert requests.get(f"{sandbox.url}/readyz", timeout=5).status_code == 200


def test_console_buttons_trigger_calls_like_hubspot(sandbox):
    client, csrf = console_client(sandbox)
    chloe, jonas = contact_id(sandbox, "Chloé"), contact_id(sandbox, "Jonas")
    changed = client.post(f"/sandbox/contacts/{chloe}/property-change", data={"csrf_token": csrf})
    assert changed.status_code == 303
    action = client.post(f"/sandbox/contacts/{jonas}/workflow-action", data={"csrf_token": csrf})
    assert action.status_code == 303
    wait_for(lambda: engagement_for(sandbox.hubspot_sim, chloe), 20, message="property change")
    completions = wait_for(lambda: sandbox.hubspot_sim.callback_completions, 20,
                           message="workflow callback completed")
    assert completions[0][1]["call_outcome"] == "Left voicemail"
    assert sandbox.hubspot_sim.contacts[chloe]["talkstack_call_requested"] == "false"


def test_batch_from_the_demo_list_skips_by_policy(sandbox):
    client, csrf = console_client(sandbox)
    started = client.post("/sandbox/batch", data={"csrf_token": csrf})
    assert started.status_code == 303
    batch_path = started.headers["Location"]
    headers = {"Authorization": f"Bearer {sandbox.rt.settings.api_token}"}

    def skipped_reasons():
        view = requests.get(f"{sandbox.url}/api{batch_path}", headers=headers, timeout=5).json()
        reasons = {row["reason"] for row in view["rows"] if row["state"] == "skipped"}
        return reasons if view["files"] else None

    reasons = wait_for(skipped_reasons, 20, message="batch file uploaded")
    assert {"no_number", "invalid_number", "opted_out"} <= reasons


def test_stop_releases_the_ports(tmp_path):
    running = Sandbox(SandboxOptions(ports=SandboxPorts(0, 0, 0)),
                      environ={"INSTANCE_PATH": str(tmp_path)}, dotenv_path=None).start()
    urls = [running.url, running.hubspot_sim.url, running.talkstack_sim.url]
    running.stop()
    for url in urls:
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/healthz", timeout=2)

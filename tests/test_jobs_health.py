"""jobs/health.py: configuration checks against the simulators, the cache, the gauges."""

from __future__ import annotations

import socket

import pytest

from jobs.health import (
    cached_health,
    check_health,
    health_due,
    record_webhook_registration,
    refresh_health,
    required_properties,
    talkstack_webhook_url,
)
from tests.conftest import wait_for


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_healthy_after_setup(rt, setup_done):
    record_webhook_registration(rt, talkstack_webhook_url(rt.settings))
    result = check_health(rt)
    assert result["healthy"] is True
    assert {name: check["ok"] for name, check in result["checks"].items()} == dict.fromkeys(
        ("hubspot", "properties", "talkstack", "agent", "webhook"), True)


def test_unverified_webhook_is_unknown_not_a_failure(rt, setup_done):
    from sqlalchemy import delete

    from jobs.health import WEBHOOK_REGISTRATION_KEY
    from store.models import CachedValue

    with rt.db.session() as session:  # as if setup never recorded the registration
        session.execute(delete(CachedValue).where(CachedValue.key == WEBHOOK_REGISTRATION_KEY))
    result = check_health(rt)
    assert result["checks"]["webhook"]["ok"] is None and result["healthy"] is True


def test_missing_properties_are_named(rt):
    result = check_health(rt)  # setup never ran
    properties = result["checks"]["properties"]
    assert properties["ok"] is False and result["healthy"] is False
    assert "talkstack_last_call_status" in properties["missing"]
    assert set(properties["missing"]) <= set(required_properties(rt))


def test_wrong_hubspot_token_and_unreachable_talkstack(make_app):
    app = make_app(HUBSPOT_ACCESS_TOKEN="wrong-token-value",
                   TALKSTACK_API_BASE=closed_port_url())
    result = check_health(app.extensions["connector"])
    checks = result["checks"]
    assert checks["hubspot"]["ok"] is False
    assert checks["properties"]["ok"] is None  # not checked when HubSpot is unreachable
    assert checks["talkstack"]["ok"] is False and checks["agent"]["ok"] is None
    assert "wrong-token-value" not in str(result)


def test_webhook_registration_for_another_url_is_a_problem(rt, setup_done):
    record_webhook_registration(rt, "https://old.example.com/webhooks/talkstack/x")
    webhook = check_health(rt)["checks"]["webhook"]
    assert webhook["ok"] is False and "differs" in webhook["detail"]
    assert rt.settings.talkstack_webhook_token not in webhook["detail"]


def test_cache_staleness_and_gauges(client, rt, setup_done):
    assert cached_health(rt) is None and health_due(rt)
    record_webhook_registration(rt, "https://elsewhere.example/webhooks/talkstack/old")
    refresh_health(rt)
    assert cached_health(rt)["checks"]["hubspot"]["ok"] is True
    assert not health_due(rt) and health_due(rt, max_age_seconds=-1)
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'connector_health_check{check="hubspot"} 1.0' in scraped
    assert 'connector_health_check{check="webhook"} 0.0' in scraped


def test_check_now_runs_in_the_worker(client, rt, worker, setup_done):
    from jobs.tasks import _task_table

    if "refresh_health" not in _task_table():
        pytest.skip("refresh_health is not in jobs/tasks.py's table yet")
    client.post("/login", data={"token": rt.settings.api_token})
    with client.session_transaction() as session:
        token = session["console_csrf"]
    assert client.post("/health/check", data={"csrf_token": token}).status_code == 303
    wait_for(lambda: cached_health(rt), 10, message="health cached by the worker")

"""The application shell: health, readiness, metrics, JSON errors, redaction."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from config import ConfigError


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "queue": "ok"}


def test_readyz_reports_a_dead_database(client, rt):
    rt.db.engine.dispose()
    original = rt.db.url
    from store.db import build_engine

    rt.db.engine = build_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        response = client.get("/readyz")
    finally:
        rt.db.engine = build_engine(original)
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("unavailable")


def test_metrics_are_prometheus_text(client):
    client.post("/webhooks/hubspot", data=b"[]")  # a rejection to count
    body = client.get("/metrics").get_data(as_text=True)
    assert "connector_events_rejected_total" in body
    assert "connector_queue_depth" in body
    assert "connector_call_requests" in body or "connector_dead_letters" in body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("DELETE", "/healthz", 405),
        ("GET", "/webhooks/hubspot", 405),
        ("POST", "/api/calls", 401),
        ("GET", "/api/calls/1", 401),
    ],
)
def test_errors_are_json_everywhere(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json
    assert set(response.json["error"]) == {"code", "message"}


def test_no_500_from_garbage(client, api_headers):
    garbage = [b"", b"\x00\xff", b"{" * 5000, b"[]" * 100, b"null", b"1e999999"]
    paths = [
        "/webhooks/hubspot",
        "/webhooks/hubspot/workflow",
        "/webhooks/hubspot/actions/call",
        "/webhooks/hubspot/actions/options/agents",
        "/api/calls",
        "/api/batches",
    ]
    for path in paths:
        for body in garbage:
            for headers in ({}, api_headers, {"Content-Type": "application/json", **api_headers}):
                response = client.post(path, data=body, headers=headers)
                assert response.status_code < 500, (path, body[:20], response.status_code)
                assert response.is_json


def test_missing_configuration_stops_start_up_with_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="^missing required environment variable"):
        create_app({"HUBSPOT_ACCESS_TOKEN": "x", "TALKSTACK_API_KEY": "k"})


def test_secrets_never_reach_log_lines(rt, caplog):
    from logs import install_redaction

    install_redaction(rt.settings.secrets())
    logger = logging.getLogger("connector.test")
    root_handler_filters = [f for h in logging.getLogger().handlers for f in h.filters]
    redactor = root_handler_filters[-1]
    record = logger.makeRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "token %s and key %s",
        (rt.settings.api_token, rt.settings.hubspot_access_token),
        None,
    )
    redactor.filter(record)
    text = record.getMessage()
    assert rt.settings.api_token not in text and rt.settings.hubspot_access_token not in text
    assert "***" in text


def test_a_bad_rules_file_stops_start_up_listing_every_mistake(make_app, tmp_path):
    from domain.rules import RulesError

    rules = tmp_path / "rules.toml"
    rules.write_text('[quiet_hours]\nstart = "25:00"\n\n[[analysis.questions]]\nkey = "x"\n')
    with pytest.raises(RulesError) as error:
        make_app(CONNECTOR_CONFIG=str(rules))
    problems = str(error.value).splitlines()
    assert len(problems) >= 3
    assert any("quiet_hours.start" in line for line in problems)
    assert any("analysis.questions" in line for line in problems)

"""The operations console: login, pages over real pipeline data, escaping, CSRF, secrets."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from store.models import DeadLetter, HubSpotWrite
from tests.conftest import wait_for

XSS_NAME = "<script>alert('x')</script>"
ENGAGEMENT_PATH = "/crm/v3/objects/calls/batch/create"
PAGES = ("/", "/batches", "/events", "/dead-letters", "/health")


def log_in(client, token: str):
    return client.post("/login", data={"token": token, "next": "/"})


def csrf_of(client) -> str:
    with client.session_transaction() as session:
        return session["console_csrf"]


@pytest.fixture
def console(live, worker_for):
    """A live connector with a worker, and a logged-in test client."""
    app, _url = live()
    worker_for(app)
    client = app.test_client()
    assert log_in(client, app.extensions["connector"].settings.api_token).status_code == 303
    return app, client


def call_contact(app, hubspot_sim, talkstack_sim, *, status="completed", **properties) -> int:
    """Drive one API call through the simulators and the worker until its outcome is written."""
    rt = app.extensions["connector"]
    contact = hubspot_sim.add_contact(**{"phone": "+1 415 555 0161", **properties})
    talkstack_sim.script_outcome("+14155550161", status, seconds=33)
    headers = {"Authorization": f"Bearer {rt.settings.api_token}"}
    request_id = app.test_client().post("/api/calls", json={"contactId": contact},
                                        headers=headers).json["id"]
    return request_id


def writes_settled(rt) -> bool:
    with rt.db.session() as session:
        states = list(session.scalars(select(HubSpotWrite.state)))
    return bool(states) and all(state in ("done", "dead") for state in states)


def test_every_page_requires_login(client):
    for path in (*PAGES, "/calls/1", "/batches/1", "/events/1", "/talkstack-calls/1"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.post("/dead-letters/1/replay").status_code == 401
    assert client.post("/health/check").status_code == 401


def test_wrong_token_is_rejected(client, rt):
    response = log_in(client, "not-" + rt.settings.api_token)
    assert response.status_code == 401
    assert "not the API token" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert log_in(client, "").status_code == 401


def test_login_sets_a_session_and_logout_ends_it(client, rt):
    response = client.post("/login", data={"token": rt.settings.api_token, "next": "/events"})
    assert response.status_code == 303 and response.headers["Location"] == "/events"
    assert "HttpOnly" in response.headers["Set-Cookie"]
    page = client.get("/events")
    assert page.status_code == 200
    assert "script-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert client.post("/logout", data={"csrf_token": csrf_of(client)}).status_code == 303
    assert client.get("/events").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(client, rt, target):
    response = client.post("/login", data={"token": rt.settings.api_token, "next": target})
    assert response.headers["Location"] == "/"


def test_calls_page_and_trace_show_a_completed_call(console, hubspot_sim, talkstack_sim):
    app, client = console
    rt = app.extensions["connector"]
    request_id = call_contact(app, hubspot_sim, talkstack_sim, firstname="Ada",
                              lastname="Lovelace")
    wait_for(lambda: writes_settled(rt) and hubspot_sim.calls, 20, message="engagement written")

    page = client.get("/").get_data(as_text=True)
    assert "Ada Lovelace" in page and "Connected" in page
    trace = client.get(f"/calls/{request_id}")
    assert trace.status_code == 200
    html = trace.get_data(as_text=True)
    engagement_id = next(iter(hubspot_sim.calls))
    for expected in ("1. Trigger", "2. Call request and policy decision", "3. Talkstack call",
                     "4. HubSpot writes", "call_engagement", "contact_update", engagement_id,
                     "+14155550161", "completed"):
        assert expected in html, expected
    call_id = re.search(r'href="/talkstack-calls/(\d+)"', html).group(1)
    call_page = client.get(f"/talkstack-calls/{call_id}").get_data(as_text=True)
    assert engagement_id in call_page and "33 s" in call_page


def test_crm_values_are_escaped(console, hubspot_sim, talkstack_sim):
    app, client = console
    rt = app.extensions["connector"]
    request_id = call_contact(app, hubspot_sim, talkstack_sim, firstname=XSS_NAME,
                              company="<img src=x onerror=alert(1)>")
    wait_for(lambda: writes_settled(rt), 20, message="writes settled")
    for path in ("/", f"/calls/{request_id}"):
        html = client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;" in html, path
        assert "<script>" not in html and "<img src=x" not in html, path


def test_dead_letter_replay_requires_csrf(console, hubspot_sim, talkstack_sim):
    app, client = console
    rt = app.extensions["connector"]
    hubspot_sim.fail_next(1, status=400, path_prefix=ENGAGEMENT_PATH)
    call_contact(app, hubspot_sim, talkstack_sim)
    letter_id = wait_for(lambda: _open_letter(rt), 20, message="a dead letter")
    page = client.get("/dead-letters").get_data(as_text=True)
    assert "Replay" in page and f"/dead-letters/{letter_id}/replay" in page

    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        refused = client.post(f"/dead-letters/{letter_id}/replay", data=data)
        assert refused.status_code == 400
        assert "CSRF" in refused.get_data(as_text=True)
    as_json = client.post(f"/dead-letters/{letter_id}/replay",
                          headers={"Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.json["error"]["code"] == "csrf_failed"
    assert _open_letter(rt) == letter_id  # nothing was replayed
    assert not hubspot_sim.calls

    replayed = client.post(f"/dead-letters/{letter_id}/replay",
                           data={"csrf_token": csrf_of(client)})
    assert replayed.status_code == 303
    assert _open_letter(rt) is None
    wait_for(lambda: hubspot_sim.calls, 20, message="engagement written after replay")
    again = client.post(f"/dead-letters/{letter_id}/replay", data={"csrf_token": csrf_of(client)})
    assert again.status_code == 404


def _open_letter(rt) -> int | None:
    with rt.db.session() as session:
        return session.scalar(select(DeadLetter.id).where(DeadLetter.replayed_at.is_(None)))


def test_batch_pages_and_file_download(console, hubspot_sim, api_headers):
    from jobs.batches import create_batch

    app, client = console
    rt = app.extensions["connector"]
    good = hubspot_sim.add_contact(phone="+1 415 555 0171", firstname="Bo")
    missing = hubspot_sim.add_contact(firstname="Nonumber")
    batch_id = create_batch(rt, {"contactIds": [good, missing]})
    api = app.test_client()
    headers = {"Authorization": f"Bearer {rt.settings.api_token}"}
    wait_for(lambda: api.get(f"/api/batches/{batch_id}", headers=headers).json["files"], 20,
             message="batch file uploaded")

    listing = client.get("/batches").get_data(as_text=True)
    assert f'href="/batches/{batch_id}"' in listing
    detail = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "no_number" in detail and f"/batches/{batch_id}/files/1" in detail
    download = client.get(f"/batches/{batch_id}/files/1")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data == api.get(f"/api/batches/{batch_id}/files/1", headers=headers).data
    assert b"+14155550171" in download.data


def test_unknown_or_malformed_ids_are_html_404s(console):
    _app, client = console
    for path in ("/calls/999999", "/calls/abc", "/calls/99999999999999999999999999",
                 "/talkstack-calls/0", "/batches/42", "/batches/1/files/1", "/batches/x/files/y",
                 "/events/-1", "/sandbox"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html", path
        assert "404" in response.get_data(as_text=True)
    replay = client.post("/dead-letters/12345/replay", data={"csrf_token": csrf_of(client)})
    assert replay.status_code == 404


def test_event_pages_list_and_show_inbound_events(console, hubspot_sim, talkstack_sim):
    app, client = console
    rt = app.extensions["connector"]
    call_contact(app, hubspot_sim, talkstack_sim, firstname="Eve")
    wait_for(lambda: writes_settled(rt), 20, message="writes settled")
    listing = client.get("/events?source=talkstack").get_data(as_text=True)
    event_id = re.search(r'href="/events/(\d+)"', listing).group(1)
    assert "hubspot_app" not in listing.split("<tbody>")[1]
    detail = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "Body as received" in detail and "callSid" in detail
    assert client.get("/events?source=nonsense&state=%3Cx%3E").status_code == 200


def test_health_page_shows_the_cached_check(console):
    from jobs.health import record_webhook_registration, refresh_health, talkstack_webhook_url

    app, client = console
    rt = app.extensions["connector"]
    assert "Not checked yet" in client.get("/health").get_data(as_text=True)
    record_webhook_registration(rt, "https://elsewhere.example/webhooks/talkstack/old")
    refresh_health(rt)
    page = client.get("/health").get_data(as_text=True)
    assert 'id="overall">needs attention' in page
    assert page.count('<span class="badge ok">ok</span>') == 4
    assert '<span class="badge bad">problem</span>' in page and "differs" in page
    record_webhook_registration(rt, talkstack_webhook_url(rt.settings))
    refresh_health(rt)
    page = client.get("/health").get_data(as_text=True)
    assert page.count('<span class="badge ok">ok</span>') == 5
    checked = client.post("/health/check", data={"csrf_token": csrf_of(client)})
    assert checked.status_code == 303


def test_no_secret_appears_on_any_page(console, hubspot_sim, talkstack_sim):
    from jobs.health import refresh_health

    app, client = console
    rt = app.extensions["connector"]
    hubspot_sim.fail_next(1, status=400, path_prefix=ENGAGEMENT_PATH)
    request_id = call_contact(app, hubspot_sim, talkstack_sim)
    wait_for(lambda: _open_letter(rt), 20, message="a dead letter")
    refresh_health(rt)
    pages = [*PAGES, f"/calls/{request_id}", "/talkstack-calls/1", "/events/1", "/calls/0"]
    bodies = [client.get(path).get_data(as_text=True) for path in pages]
    bodies.append(app.test_client().get("/login").get_data(as_text=True))
    secrets = rt.settings.secrets()
    assert len(secrets) >= 6
    for path, body in zip([*pages, "/login"], bodies, strict=True):
        for secret in secrets:
            assert secret not in body, (path, "a secret leaked")
    health = bodies[PAGES.index("/health")]
    assert "&lt;TALKSTACK_WEBHOOK_TOKEN&gt;" in health and "API_TOKEN" in health

"""POST /api/batches, GET /api/batches/<id>, the files endpoints, errors and auth."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jobs.batches import run_batch
from simulators.server import serve
from store.models import Batch
from tests.conftest import wait_for

AGENT = "agent-renewals"


@pytest.fixture
def app(make_app):
    # One attempt per contact: a no-answer row is done at once (no follow-up).
    return make_app(TALKSTACK_AGENT_ID="agent-sales", CALL_MAX_ATTEMPTS=1)


def seed(hubspot_sim, rows):
    known = dict.fromkeys(("phone", "firstname", "talkstack_last_skip_reason",
                           "talkstack_call_attempts", "talkstack_last_call_duration",
                           "talkstack_last_call_id", "talkstack_last_call_status",
                           "talkstack_last_call_at"), "")
    return hubspot_sim.add_contacts([{**known, **row} for row in rows])


def post(client, headers, body):
    return client.post("/api/batches", json=body, headers=headers)


def batch_count(rt) -> int:
    with rt.db.session() as session:
        return session.scalar(select(func.count(Batch.id)))


def test_post_then_get_shows_rows_files_counts_and_outcomes(app, client, api_headers, rt,
                                                            hubspot_sim, talkstack_sim, worker):
    ids = seed(hubspot_sim, [{"phone": "+14155550111"}, {"phone": "12"},
                             {"phone": "+14155550112"}])
    talkstack_sim.script_outcome("+14155550111", "completed")
    talkstack_sim.script_outcome("+14155550112", "no-answer")
    server = serve(app)  # so the simulator's call-status webhooks reach the app
    talkstack_sim.webhook_url = (f"{server.url}/webhooks/talkstack/"
                                 f"{rt.settings.talkstack_webhook_token}")
    response = post(client, api_headers, {"contactIds": ids, "agentId": AGENT})
    assert response.status_code == 202
    batch_id = response.get_json()["id"]

    def done():
        body = client.get(f"/api/batches/{batch_id}", headers=api_headers).get_json()
        return body if body["state"] == "done" else None

    try:
        body = wait_for(done, timeout=30, message="batch done")
    finally:
        server.stop()
    assert list(body) == ["id", "state", "source", "files", "counts", "rows"]
    assert body["id"] == batch_id and body["source"] == {"contactIds": ids}
    assert len(body["files"]) == 1
    assert body["files"][0]["index"] == 1 and body["files"][0]["rows"] == 2
    assert body["files"][0]["uploadedAt"].endswith("Z")
    assert body["counts"] == {"skipped": 1, "queued": 0, "uploaded": 0, "done": 2, "failed": 0}
    assert [(r["contactId"], r["number"], r["state"], r["reason"], r["status"], r["outcome"])
            for r in body["rows"]] == [
        (ids[0], "+14155550111", "done", None, "completed", "Connected"),
        (ids[1], None, "skipped", "invalid_number", None, None),
        (ids[2], "+14155550112", "done", None, "no-answer", "No answer")]
    sids = {sid for batch in talkstack_sim.batches for sid in batch.sids}
    assert {body["rows"][0]["talkstackCallId"], body["rows"][2]["talkstackCallId"]} == sids
    assert set(body["rows"][0]) == {"contactId", "number", "state", "reason",
                                    "talkstackCallId", "status", "outcome"}
    assert talkstack_sim.batches[0].agent_id == AGENT

    paged = client.get(f"/api/batches/{batch_id}?limit=1&offset=1", headers=api_headers)
    assert [r["contactId"] for r in paged.get_json()["rows"]] == [ids[1]]
    assert paged.headers["X-Total-Rows"] == "3"


def test_file_endpoints_return_exactly_the_uploaded_bytes(client, api_headers, rt,
                                                          hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": "+14155550121", "firstname": "=1+1"}])
    for fmt in ("csv", "xlsx"):
        batch_id = post(client, api_headers, {"contactIds": ids, "format": fmt}).get_json()["id"]
        run_batch(rt, batch_id)
        sent = talkstack_sim.batches[-1]
        for path in (f"/api/batches/{batch_id}/file", f"/api/batches/{batch_id}/files/1"):
            response = client.get(path, headers=api_headers)
            assert response.status_code == 200
            assert response.data == sent.content
            assert sent.filename in response.headers["Content-Disposition"]
        expected_type = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats"
        assert response.content_type.startswith(expected_type)
    missing = client.get(f"/api/batches/{batch_id}/files/2", headers=api_headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/batches/999", "/api/batches/999/file",
                                  "/api/batches/999/files/1",
                                  "/api/batches/99999999999999999999999"])
def test_unknown_batches_are_json_404s(client, api_headers, path):
    response = client.get(path, headers=api_headers)
    assert response.status_code == 404
    assert "error" in response.get_json()


@pytest.mark.parametrize("body", [
    {},
    {"listId": "1", "contactIds": ["1"]},
    {"listId": "1", "filter": {"filterGroups": [{"filters": []}]}},
    {"listId": "1", "format": "pdf"},
    {"contactIds": ["abc"]},
    {"contactIds": []},
    {"contactIds": "1,2"},
    {"listId": "x1"},
    {"filter": {"filterGroups": []}},
    {"filter": "company=Acme"},
    [],
])
def test_bad_bodies_are_400_and_create_nothing(client, api_headers, rt, body):
    response = post(client, api_headers, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_body"
    assert batch_count(rt) == 0


def test_non_json_body_is_400(client, api_headers):
    response = client.post("/api/batches", data="listId=1", headers=api_headers)
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["limit=-1", "limit=x", "offset=1.5", "limit=100000"])
def test_bad_paging_is_400(client, api_headers, rt, query):
    batch_id = post(client, api_headers, {"listId": "1"}).get_json()["id"]
    response = client.get(f"/api/batches/{batch_id}?{query}", headers=api_headers)
    assert response.status_code == 400


@pytest.mark.parametrize(("method", "path"), [("post", "/api/batches"),
                                              ("get", "/api/batches/1"),
                                              ("get", "/api/batches/1/file"),
                                              ("get", "/api/batches/1/files/1")])
def test_token_is_required(client, rt, method, path):
    response = getattr(client, method)(path, json={"listId": "1"},
                                       headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert getattr(client, method)(path, json={"listId": "1"}).status_code == 401
    assert batch_count(rt) == 0


def test_openapi_document_describes_the_batch_routes(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/batches", "/api/batches/{id}", "/api/batches/{id}/file",
                 "/api/batches/{id}/files/{n}"):
        assert path in paths
    assert "post" in paths["/api/batches"]

"""TalkstackClient (and the shared integrations.http helpers) against the simulator on loopback."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
import xlsxwriter

from integrations.errors import (
    AmbiguousCallError,
    AuthError,
    PermanentError,
    RateLimited,
    TransientError,
)
from integrations.http import (
    MAX_BODY_IN_MESSAGE,
    RequestNotSent,
    call_with_retries,
    classify,
    parse_retry_after,
)
from integrations.talkstack import (
    FINAL_STATUSES,
    PENDING_STATUSES,
    CallNotFound,
    TalkstackClient,
    extract_call_id,
)
from integrations.talkstack_models import list_in, parse_answers, parse_call_record
from simulators.server import serve
from simulators.talkstack import TalkstackSimulator
from tests.conftest import SwappableApp, wait_for

API_KEY = "sim-talkstack-key"
PROJECT = "proj-sim"
AGENT = "agent-default"
NUMBER = "+14155550123"
QUESTIONS = [
    {"question": "Is the contact interested?", "type": "Boolean"},
    {"question": "How many seats do they need?", "type": "Number"},
    {
        "question": "Why are they leaving?",
        "type": "Selector",
        "options": ["Better offer", "Not interested"],
    },
    {"question": "How did the call go?", "type": "Text"},
]


@pytest.fixture(scope="module")
def servers():
    app = SwappableApp()
    api_server, calls_server = serve(app), serve(app)
    yield app, api_server.url, calls_server.url
    api_server.stop()
    calls_server.stop()


@pytest.fixture
def use_sim(servers):
    def install(sim: TalkstackSimulator) -> TalkstackSimulator:
        servers[0].target = sim.wsgi_app
        return sim

    return install


@pytest.fixture
def sim(use_sim):
    return use_sim(TalkstackSimulator(seed=7, final_after_seconds=0.5, fault_sleep_seconds=0.5))


@pytest.fixture
def api(servers, sim):
    return servers[1]


@pytest.fixture
def calls_host(servers, sim):
    """makeCall lives on a second host; the same simulator answers there too."""
    return servers[2]


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(api, calls_host, sleeps):
    made = []

    def make(**overrides) -> TalkstackClient:
        settings = {
            "api_base": api,
            "calls_base": calls_host,
            "project_id": PROJECT,
            "api_key": API_KEY,
            "timeout": (1, 2),
            "max_retries": 2,
            "sleep": sleeps.append,
            **overrides,
        }
        client = TalkstackClient(**settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- makeCall and call data ------------------------------------------------------------------------


def test_make_call_sends_documented_body_to_the_calls_host(client, sim, api, calls_host):
    placed = client.make_call(NUMBER, AGENT, {"name": "Ada", "hubspot_contact_id": "101"})

    assert placed.call_id.startswith("CA") and len(placed.call_id) == 34
    assert (placed.to, placed.from_) == (NUMBER, "+14155550190")
    [sent] = sim.requests_to("/call/makeCall")
    assert sent.json == {
        "number": NUMBER,
        "projectId": PROJECT,
        "agentId": AGENT,
        "dynamicVariables": {"name": "Ada", "hubspot_contact_id": "101"},
    }
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["host"] == calls_host.removeprefix("http://")
    client.get_call(placed.call_id)
    assert sim.requests_to("/call")[0].headers["host"] == api.removeprefix("http://")


def test_get_call_is_pending_then_final_with_parsed_fields(client, sim):
    sim.script_outcome(NUMBER, "completed", seconds=42, data={"interested": "true"})
    placed = client.make_call(NUMBER, AGENT, {"hubspot_contact_id": "101"})

    pending = client.get_call(placed.call_id)
    assert pending.status in PENDING_STATUSES and not pending.is_final
    assert pending.recording_urls == [] and pending.seconds == 0

    sim.force_final(placed.call_id)
    final = client.get_call(placed.call_id)
    assert (final.status, final.is_final, final.seconds) == ("completed", True, 42)
    assert final.call_id == placed.call_id
    assert final.to_number == NUMBER and final.from_number == "+14155550190"
    assert final.recording_urls[0].startswith("https://api.twilio.com/")
    assert final.data == {"interested": "true"}
    assert final.variables == {"hubspot_contact_id": "101"}
    assert final.started_at.tzinfo is not None
    assert abs(final.started_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert sim.requests_to("/call")[0].json == {"sid": placed.call_id, "projectId": PROJECT}


def test_call_reaches_final_on_its_own(client, sim):
    sim.script_outcome(NUMBER, "busy")
    placed = client.make_call(NUMBER, AGENT, {})
    record = wait_for(lambda: (r := client.get_call(placed.call_id)).is_final and r)
    assert (record.status, record.seconds, record.recording_urls) == ("busy", 0, [])


def test_unknown_call_raises_call_not_found(client):
    with pytest.raises(CallNotFound) as caught:
        client.get_call("CA" + "0" * 32)
    assert isinstance(caught.value, PermanentError) and caught.value.status == 404


# -- parsing -------------------------------------------------------------------------------------


BARE_RECORD = {
    "seconds": 23, "cost": 0.077, "status": "completed", "from": "+14152148508",
    "to": "+12068091239", "date": "Tue, 30 Jan 2024 13:39:53 +0000",
    "recordingUrls": ["https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3"],
    "phoneNumber": "+12068091239", "callSid": "CA26e39c970fd416515799f5a165718be3",
    "partnerId": "partner-id", "hubspot_contact_id": "55",
    "data": {"employeeGoToWork": "false", "newDate": ""},
}  # fmt: skip


def test_parse_bare_record_with_rfc2822_date_and_echoed_variables():
    record = parse_call_record(BARE_RECORD)
    assert record.started_at == datetime(2024, 1, 30, 13, 39, 53, tzinfo=UTC)
    assert record.call_id == "CA26e39c970fd416515799f5a165718be3"
    assert record.variables == {"partnerId": "partner-id", "hubspot_contact_id": "55"}
    assert record.data == {"employeeGoToWork": "false", "newDate": ""}
    assert record.is_final and record.seconds == 23 and record.raw is BARE_RECORD


def test_parse_enveloped_record_and_iso_dates_and_nested_variables():
    body = {
        "message": "ok",
        "status": "error",
        "call": {
            "sid": "CA1",
            "status": "In-Progress",
            "date": "2025-01-13T10:24:48.229Z",
            "dynamicVariables": {"hubspot_contact_id": "9"},
        },
    }
    record = parse_call_record(body)
    assert (record.call_id, record.status, record.is_final) == ("CA1", "in-progress", False)
    assert record.started_at == datetime(2025, 1, 13, 10, 24, 48, 229000, tzinfo=UTC)
    assert record.variables == {"hubspot_contact_id": "9"}
    data_envelope = {"message": "ok", "data": {"callSid": "CA2", "status": "busy"}}
    assert parse_call_record(data_envelope).call_id == "CA2"


def test_parse_twilio_form_shape():
    form = {
        "CallSid": "CA3",
        "CallStatus": "no-answer",
        "To": "+1555",
        "From": "+1666",
        "CallDuration": "0",
    }
    record = parse_call_record(form)
    assert (record.call_id, record.status, record.is_final, record.seconds) == (
        "CA3",
        "no-answer",
        True,
        0,
    )
    assert (record.to_number, record.from_number, record.variables) == ("+1555", "+1666", {})


def test_unknown_status_is_not_final_and_logged_once(caplog):
    caplog.set_level(logging.WARNING)
    first = parse_call_record({"callSid": "CA4", "status": "teleported"})
    parse_call_record({"callSid": "CA5", "status": "teleported"})
    assert not first.is_final and "canceled" in FINAL_STATUSES
    assert caplog.text.count("teleported") == 1


@pytest.mark.parametrize("payload", [
    {"callSid": "CAx"}, {"sid": "CAx"}, {"call_id": "CAx"}, {"CallSid": "CAx"},
    {"call": {"call_id": "CAx"}, "message": "call made successfully."},
    {"call": {"sid": "CAx"}}, {"call": {"callSid": "CAx"}}, {"call": {"CallSid": "CAx"}},
])  # fmt: skip
def test_extract_call_id_reads_every_alias(payload):
    assert extract_call_id(payload) == "CAx"


@pytest.mark.parametrize("payload", [{}, {"sid": ""}, {"call": "CAx"}, [], None, {"id": "CAx"}])
def test_extract_call_id_without_an_id(payload):
    assert extract_call_id(payload) is None


def test_list_and_answer_shapes_are_tolerated():
    assert list_in([{"a": 1}]) == [{"a": 1}]
    assert list_in({"message": "m", "data": [1]}) == [1]
    assert list_in({"calls": [2]}) == [2] and list_in({"history": [3]}) == [3]
    assert list_in({"data": {"calls": [4]}}) == [4] and list_in({"status": "success"}) == []
    questions = ["Q1", "Q2"]
    expected = {"Q1": "Yes", "Q2": 3}
    assert parse_answers({"Q1": "Yes", "Q2": 3, "summary": "s"}, questions) == expected
    listed = [{"question": "Q1", "answer": "Yes"}, {"question": "Q2", "answer": 3}]
    assert parse_answers({"answers": listed}, questions) == expected
    assert parse_answers({"data": {"answers": listed}}, questions) == expected
    assert parse_answers({"analysis": {"Q1": "Yes", "Q2": 3}}, questions) == expected


# -- retries, rate limits, timeouts ------------------------------------------------------------


def test_429_waits_what_retry_after_says(client, sim, sleeps):
    sim.fail_next(1, 429, retry_after=3)
    assert [a.name for a in client.list_agents()] == ["Sales agent", "Renewals agent"]
    assert sleeps == [3.0]
    assert len(sim.requests_to(f"/agent/{PROJECT}")) == 2


def test_429_wait_is_capped(client, sim, sleeps):
    sim.fail_next(1, 429, retry_after=600)
    client.list_voices()
    assert sleeps == [30.0]


def test_5xx_is_retried_with_backoff_then_succeeds(client, sim, sleeps):
    sim.fail_next(2, 503, path_prefix="/agent")
    assert client.get_agent("agent-renewals").name == "Renewals agent"
    assert len(sleeps) == 2 and all(0 < s <= 8.5 for s in sleeps)
    assert len(sim.requests_to("/agent")) == 3


def test_persistent_5xx_raises_transient_error(client, sim, sleeps):
    sim.fail_next(10, 500)
    with pytest.raises(TransientError) as caught:
        client.get_call("CA" + "1" * 32)
    assert caught.value.status == 500 and not isinstance(caught.value, AmbiguousCallError)
    assert len(sim.requests_to("/call")) == 3 and len(sleeps) == 2


def test_read_timeout_is_transient_and_retried(make_client, sim, sleeps):
    client = make_client(timeout=(1, 0.2))
    sim.fail_next(1, "timeout", path_prefix="/voices")
    assert client.list_voices()[0]["voice_id"]
    sim.fail_next(3, "timeout", path_prefix="/voices")
    with pytest.raises(TransientError):
        client.list_voices()
    assert len(sim.requests_to("/voices")) == 2 + 3


@pytest.mark.parametrize("fault", ["timeout", "slow", 500, 502])
def test_make_call_after_sending_is_ambiguous_and_not_retried(make_client, sim, fault, sleeps):
    client = make_client(timeout=(1, 0.2))
    sim.fail_next(1, fault, path_prefix="/call/makeCall")
    with pytest.raises(AmbiguousCallError):
        client.make_call(NUMBER, AGENT, {})
    assert len(sim.requests_to("/call/makeCall")) == 1 and sleeps == []
    # "slow" means Talkstack did dial: exactly why the caller must check history first.
    assert len(sim.calls) == (1 if fault == "slow" else 0)


def test_make_call_429_is_safe_to_retry(client, sim, sleeps):
    sim.fail_next(1, 429, retry_after=1, path_prefix="/call/makeCall")
    placed = client.make_call(NUMBER, AGENT, {})
    assert list(sim.calls) == [placed.call_id] and sleeps == [1.0]
    assert len(sim.requests_to("/call/makeCall")) == 2


def test_make_call_connect_failure_is_retried(make_client, sleeps):
    client = make_client(calls_base=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(RequestNotSent):
        client.make_call(NUMBER, AGENT, {})
    assert len(sleeps) == 2  # nothing was sent, so every attempt was safe


def test_batch_upload_after_sending_is_ambiguous(client, sim, sleeps):
    sim.fail_next(1, 500, path_prefix="/call/batch-call")
    with pytest.raises(AmbiguousCallError):
        client.upload_batch(AGENT, "b.csv", b"number\n+14155550123\n", "text/csv")
    assert len(sim.requests_to("/call/batch-call")) == 1 and sleeps == []


def test_make_call_validation_error_is_permanent(client, sim):
    with pytest.raises(PermanentError) as caught:
        client.make_call("555-0100", AGENT, {})
    assert caught.value.status == 400 and "E.164" in str(caught.value)


# -- auth -----------------------------------------------------------------------------------------


def test_wrong_api_key_raises_auth_error_without_leaking_it(make_client, sleeps):
    client = make_client(api_key="wrong-secret-key")
    with pytest.raises(AuthError) as caught:
        client.list_voices()
    assert caught.value.status == 401 and "wrong-secret-key" not in str(caught.value)
    assert sleeps == []


def test_bearer_login_then_refresh_before_expiry(make_client, sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.tokens.ttl_seconds = 600
    now = [time.time()]
    client = make_client(api_key=None, email=sim.email, password=sim.password, clock=lambda: now[0])
    client.list_voices()
    client.list_voices()
    assert len(sim.requests_to("/auth/login")) == 1
    first = sim.requests_to("/voices")[0].headers["authorization"]

    now[0] += 460  # inside the refresh margin (600/4 = 150 s before expiry)
    client.list_voices()
    [refresh] = sim.requests_to("/auth/refresh-token")
    assert set(refresh.json) == {"refreshToken"}
    latest = sim.requests_to("/voices")[-1].headers["authorization"]
    assert latest.startswith("Bearer ") and latest != first
    assert first.split()[1] not in caplog.text and latest.split()[1] not in caplog.text
    assert sim.password not in caplog.text


def test_refresh_happens_once_across_threads(make_client, sim):
    sim.tokens.ttl_seconds = 600
    now = [time.time()]
    client = make_client(api_key=None, email=sim.email, password=sim.password, clock=lambda: now[0])
    client.list_voices()
    now[0] += 500
    threads = [threading.Thread(target=client.list_voices) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sim.requests_to("/auth/refresh-token")) == 1
    assert len(sim.requests_to("/voices")) == 9


def test_rejected_token_triggers_one_relogin_and_retry(make_client, sim):
    client = make_client(api_key=None, email=sim.email, password=sim.password)
    client.list_voices()
    sim.tokens.revoke_all()
    assert client.list_voices()
    paths = [r.path for r in sim.requests]
    assert paths == [
        "/auth/login",
        "/voices",
        "/voices",
        "/auth/refresh-token",
        "/auth/login",
        "/voices",
    ]


def test_bad_password_raises_auth_error_without_leaking_it(make_client, sim):
    client = make_client(api_key=None, email=sim.email, password="not-the-password")
    with pytest.raises(AuthError) as caught:
        client.list_agents()
    assert "not-the-password" not in str(caught.value)


def test_client_needs_credentials(api):
    with pytest.raises(ValueError):
        TalkstackClient(api_base=api, calls_base=api, project_id=PROJECT)


# -- batch, webhook, agents, numbers, voices -------------------------------------------------------


def xlsx_bytes(rows: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    for index, row in enumerate([("number", "dynamicVariables"), *rows]):
        sheet.write_string(index, 0, row[0])
        sheet.write_string(index, 1, row[1])
    workbook.close()
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_batch_upload_creates_one_call_per_row(client, sim, kind):
    rows = [
        ("+14155550101", json.dumps({"hubspot_contact_id": "1"})),
        ("+14155550102", json.dumps({"hubspot_contact_id": "2"})),
    ]
    if kind == "csv":
        content = (
            "number,dynamicVariables\n"
            + "".join(f'{n},"{v.replace(chr(34), chr(34) * 2)}"\n' for n, v in rows)
        ).encode()
        content_type = "text/csv"
    else:
        content = xlsx_bytes(rows)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    answer = client.upload_batch("agent-renewals", f"batch.{kind}", content, content_type)

    assert answer["data"]["rows"] == 2
    [sent] = sim.requests_to("/call/batch-call")
    assert sent.form == {"projectId": PROJECT, "agentId": "agent-renewals"}
    assert sent.files["file"] == content
    made = {c.number: c.variables for c in sim.calls.values()}
    assert made == {
        "+14155550101": {"hubspot_contact_id": "1"},
        "+14155550102": {"hubspot_contact_id": "2"},
    }


def test_set_webhook_url(client, sim):
    client.set_webhook_url("https://hooks.example.com/webhooks/talkstack/secret")
    assert sim.webhook_url == "https://hooks.example.com/webhooks/talkstack/secret"
    assert sim.requests[-1].json == {
        "projectId": PROJECT,
        "webhookURL": "https://hooks.example.com/webhooks/talkstack/secret",
    }


def test_agents_and_active_agent(client):
    agents = client.list_agents()
    assert [(a.id, a.name) for a in agents] == [
        ("agent-default", "Sales agent"),
        ("agent-renewals", "Renewals agent"),
    ]
    assert client.get_agent("agent-default").raw["systemInstruction"]
    with pytest.raises(PermanentError) as caught:
        client.get_agent("agent-nobody")
    assert caught.value.status == 404
    assert client.get_active_agent() is None
    assert client.set_active_agent("agent-renewals")["active_agent"] == "agent-renewals"
    assert client.get_active_agent() == "agent-renewals"


def test_project_without_agents_lists_none(client, use_sim):
    empty = use_sim(TalkstackSimulator(agents=[]))
    assert client.list_agents() == []
    assert empty.requests_to(f"/agent/{PROJECT}")  # it really asked, and got a 404


def test_phone_number_and_voices(client, sim):
    by_agent = client.get_phone_number(agent_id="agent-renewals")
    assert by_agent["e164"] == "+14155550191" and by_agent["agentId"] == "agent-renewals"
    by_id = client.get_phone_number(phone_number_id=by_agent["id"])
    assert by_id == by_agent
    assert client.get_phone_number()["agentId"] == "agent-default"
    assert sim.requests_to("/phone-number")[0].json == {"agentId": "agent-renewals"}
    voices = client.list_voices()
    assert {"Sarah", "Aria"} <= {v["name"] for v in voices}


# -- analysis and history -------------------------------------------------------------------------


def test_call_analysis_answers_by_question(client, sim):
    sim.script_outcome(NUMBER, "completed", answers={"How did the call go?": "Great"})
    placed = client.make_call(NUMBER, AGENT, {})
    with pytest.raises(PermanentError) as caught:
        client.get_call_analysis(placed.call_id, QUESTIONS)
    assert caught.value.status == 400  # only after the call ends

    sim.force_final(placed.call_id)
    answers = client.get_call_analysis(placed.call_id, QUESTIONS)
    assert set(answers) == {q["question"] for q in QUESTIONS}
    assert answers["Is the contact interested?"] in ("Yes", "No")
    assert isinstance(answers["How many seats do they need?"], int)
    assert answers["Why are they leaving?"] in ("Better offer", "Not interested")
    assert answers["How did the call go?"] == "Great"
    assert sim.requests_to("/call/analysis")[-1].json["questions"] == QUESTIONS


def test_analysis_path_is_configurable(make_client, sim):
    client = make_client(analysis_path="/call/insights")
    with pytest.raises(PermanentError) as caught:
        client.get_call_analysis("CA1", QUESTIONS[:1])
    assert caught.value.status == 404 and sim.requests[-1].path == "/call/insights"


def test_call_history_filters(client, sim):
    other = "+14155550999"
    sim.script_outcome(NUMBER, "completed")
    sim.script_outcome(other, "busy")
    first = client.make_call(NUMBER, AGENT, {}).call_id
    second = client.make_call(other, AGENT, {}).call_id
    client.make_call(NUMBER, AGENT, {})
    sim.force_final(first)
    sim.force_final(second)

    assert len(client.get_call_history()) == 3
    assert {r.to_number for r in client.get_call_history(to=NUMBER)} == {NUMBER}
    assert [r.call_id for r in client.get_call_history(status="busy")] == [second]
    today = datetime.now(UTC).date()
    assert len(client.get_call_history(start_time_after=today)) == 3
    assert client.get_call_history(start_time_after=today + timedelta(days=1)) == []
    assert len(client.get_call_history(page_size=1)) == 1
    last = sim.requests_to("/call/get-call-history")[-1]
    assert last.json == {"projectId": PROJECT, "pageSize": 1}
    query = sim.requests_to("/call/get-call-history")[-2].query
    assert query == {"startTimeAfter": (today + timedelta(days=1)).isoformat()}
    assert isinstance(today, date)


# -- integrations.http ---------------------------------------------------------------------------


def test_parse_retry_after_forms():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0 and parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    for unusable in (None, "", "soon", "nan"):
        assert parse_retry_after(unusable) is None


def response(status: int, body: str = "", headers: dict | None = None) -> requests.Response:
    built = requests.Response()
    built.status_code = status
    built._content = body.encode()
    built.headers.update(headers or {})
    built.request = requests.Request(
        "POST", "https://api.example.com/call?key=secret", headers={"x-api-key": "top-secret"}
    ).prepare()
    return built


@pytest.mark.parametrize(("status", "error"), [
    (401, AuthError), (403, AuthError), (429, RateLimited), (408, TransientError),
    (409, TransientError), (423, TransientError), (500, TransientError), (503, TransientError),
    (400, PermanentError), (404, PermanentError), (422, PermanentError),
])  # fmt: skip
def test_classify_maps_status_to_error(status, error):
    with pytest.raises(error) as caught:
        classify(response(status, "x" * 1000, {"Retry-After": "2"}), "vendor")
    assert type(caught.value) is error and caught.value.status == status
    text = str(caught.value)
    assert "top-secret" not in text and "key=secret" not in text and "POST /call" in text
    assert text.count("x") <= MAX_BODY_IN_MESSAGE
    if error is RateLimited:
        assert caught.value.retry_after == 2.0


def test_classify_accepts_every_2xx():
    for status in (200, 201, 204):
        assert classify(response(status), "vendor") is None


def test_call_with_retries_never_retries_ambiguous_errors():
    attempts = []

    def ambiguous():
        attempts.append(1)
        raise AmbiguousCallError("maybe dialled")

    with pytest.raises(AmbiguousCallError):
        call_with_retries(ambiguous, max_retries=3, sleep=lambda s: None)
    assert len(attempts) == 1

    def flaky():
        attempts.append(1)
        if len(attempts) < 4:
            raise TransientError("again")
        return "done"

    assert call_with_retries(flaky, max_retries=3, sleep=lambda s: None) == "done"

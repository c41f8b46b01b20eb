"""The Talkstack simulator over real HTTP: lifecycle, outcomes, faults, batches, webhooks,
control endpoints."""

from __future__ import annotations

import io
import json
import re
import time
from email.utils import parsedate_to_datetime

import pytest
import requests
import xlsxwriter
from flask import Flask, request

from simulators.server import serve
from simulators.talkstack import TalkstackSimulator
from simulators.talkstack_calls import FINAL_STATUSES
from tests.conftest import SwappableApp, wait_for

KEY = {"x-api-key": "sim-talkstack-key"}
PROJECT = "proj-sim"
NUMBER = "+14155550123"
RECORDING = re.compile(
    r"^https://api\.twilio\.com/2010-04-01/Accounts/ACsim/Recordings/RE[0-9a-f]{32}\.mp3$"
)


class Receiver:
    """A webhook endpoint that keeps every delivery and answers `status`."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[dict] = []
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self):
        self.received.append(
            {
                "mimetype": request.mimetype,
                "json": request.get_json(silent=True),
                "form": request.form.to_dict(),
                "at": time.monotonic(),
            }
        )
        return "", self.status

    def statuses(self) -> list[str]:
        return [
            r["json"]["status"] if r["json"] else r["form"]["CallStatus"] for r in self.received
        ]


@pytest.fixture(scope="module")
def servers():
    sim_app, hook_app = SwappableApp(), SwappableApp()
    sim_server, hook_server = serve(sim_app), serve(hook_app)
    yield sim_app, sim_server.url, hook_app, hook_server.url
    sim_server.stop()
    hook_server.stop()


@pytest.fixture
def run(servers):
    """run(**sim_kwargs) -> (simulator, base url); the delivery thread is stopped afterwards."""
    started = []

    def start(**kwargs) -> tuple[TalkstackSimulator, str]:
        sim = TalkstackSimulator(**{"seed": 3, "final_after_seconds": 0.2, **kwargs})
        servers[0].target = sim.wsgi_app
        sim.start()
        started.append(sim)
        return sim, servers[1]

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def receiver(servers):
    hook = Receiver()
    servers[2].target = hook.app
    hook.url = servers[3] + "/hook"
    return hook


def make_call(base: str, number: str = NUMBER, variables: dict | None = None, **extra):
    body = {
        "number": number,
        "projectId": PROJECT,
        "agentId": "agent-default",
        "dynamicVariables": variables or {},
        **extra,
    }
    return requests.post(f"{base}/call/makeCall", json=body, headers=KEY, timeout=5)


def call_data(base: str, sid: str) -> requests.Response:
    return requests.post(
        f"{base}/call", json={"sid": sid, "projectId": PROJECT}, headers=KEY, timeout=5
    )


# -- lifecycle and outcomes ----------------------------------------------------------------------


def test_call_moves_through_statuses_to_a_scripted_final(run):
    sim, base = run()
    sim.script_outcome(NUMBER, "completed", seconds=61, data={"interested": "true"})
    answer = make_call(base, variables={"hubspot_contact_id": "77", "name": "Ada"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success" and set(body["call"]) == {"call_id", "to", "from"}
    sid = body["call"]["call_id"]
    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)

    seen = []
    wait_for(
        lambda: seen.append(call_data(base, sid).json()["status"]) or seen[-1] in FINAL_STATUSES
    )
    order = ["queued", "ringing", "in-progress", "completed"]
    assert [s for s in order if s in seen] == sorted(set(seen), key=order.index)
    assert seen[0] != "completed"
    record = call_data(base, sid).json()
    assert "message" not in record  # bare object, as documented
    assert (
        record["seconds"] == 61 and record["cost"] > 0 and record["data"] == {"interested": "true"}
    )
    assert RECORDING.match(record["recordingUrls"][0])
    assert record["hubspot_contact_id"] == "77" and record["name"] == "Ada"
    assert record["callSid"] == sid and record["phoneNumber"] == NUMBER
    assert record["from"] == "+14155550190" and parsedate_to_datetime(record["date"]).tzinfo


def test_timeline_is_a_pure_function_of_elapsed_time(run):
    sim, base = run(final_after_seconds=100)
    sim.script_outcome(NUMBER, "busy")
    call = sim.calls[make_call(base).json()["call"]["call_id"]]
    at = call.created_mono
    assert [call.status_at(at + t) for t in (0, 30, 60, 99.9, 100.1, 500)] == [
        "queued",
        "ringing",
        "ringing",
        "ringing",
        "busy",
        "busy",
    ]
    assert call.seconds == 0 and call.recording_urls == []


def test_outcomes_queue_per_number(run):
    sim, base = run(final_after_seconds=0)
    sim.script_outcome(NUMBER, "no-answer", repeat=False)
    sim.script_outcome(NUMBER, "voicemail", seconds=20)
    statuses = [sim.status_of(make_call(base).json()["call"]["call_id"]) for _ in range(3)]
    assert statuses == ["no-answer", "voicemail", "voicemail"]


def test_pending_outcome_makes_a_call_stick(run):
    sim, base = run(final_after_seconds=0)
    sim.script_outcome(NUMBER, "in-progress")
    sid = make_call(base).json()["call"]["call_id"]
    assert call_data(base, sid).json()["status"] == "in-progress"
    sim.force_final(sid, "completed")
    assert call_data(base, sid).json()["status"] == "completed"
    assert sim.calls[sid].seconds > 0


def test_random_outcomes_are_seeded(run):
    outcomes = []
    for _ in range(2):
        sim, base = run(seed=11, final_after_seconds=0)
        sids = [make_call(base, f"+1415555{i:04d}").json()["call"]["call_id"] for i in range(12)]
        outcomes.append([(sid, sim.status_of(sid), sim.calls[sid].seconds) for sid in sids])
    assert outcomes[0] == outcomes[1]
    assert {status for _, status, _ in outcomes[0]} <= FINAL_STATUSES - {"canceled"}
    for _, status, seconds in outcomes[0]:
        assert (seconds > 0) == (status in {"completed", "voicemail", "silence"})


# -- validation and auth -------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "status"), [
    ({"number": None}, 400), ({"agentId": None}, 400), ({"projectId": None}, 400),
    ({"number": "4155550123"}, 400),
    ({"projectId": "other"}, 400), ({"dynamicVariables": ["x"]}, 400),
])  # fmt: skip
def test_make_call_validation(run, change, status):
    sim, base = run()
    body = {"number": NUMBER, "projectId": PROJECT, "agentId": "agent-default", **change}
    answer = requests.post(
        f"{base}/call/makeCall", json={k: v for k, v in body.items() if v is not None}, headers=KEY
    )
    assert answer.status_code == status and answer.json()["status"] == "error"
    assert sim.calls == {}


def test_unknown_agents_call_unless_strict(run):
    sim, base = run()
    answer = make_call(base, agentId="agent-elsewhere")
    assert answer.status_code == 200 and answer.json()["call"]["from"] == "+14155550199"
    sim, base = run(strict_agents=True)
    rejected = make_call(base, agentId="agent-elsewhere")
    assert rejected.status_code == 400 and "agent-default" in rejected.json()["message"]
    assert sim.calls == {}


def test_auth_by_key_or_bearer_token(run):
    sim, base = run(token_ttl_seconds=600)
    assert requests.get(f"{base}/voices").status_code == 401
    assert requests.get(f"{base}/voices", headers={"x-api-key": "nope"}).status_code == 401
    login = requests.post(
        f"{base}/auth/login", json={"email": sim.email, "password": sim.password}
    ).json()
    assert login["loginStatus"] == 7 and login["expirationTime"].endswith("Z")
    bearer = {"Authorization": f"Bearer {login['token']}"}
    assert requests.get(f"{base}/voices", headers=bearer).status_code == 200

    refreshed = requests.post(
        f"{base}/auth/refresh-token", json={"refreshToken": login["refreshToken"]}
    ).json()
    assert set(refreshed) == {"token", "resfreshToken", "expirationTime"}
    again = requests.post(
        f"{base}/auth/refresh-token", json={"refreshToken": login["refreshToken"]}
    )
    assert again.status_code == 401  # refresh tokens rotate
    wrong = requests.post(f"{base}/auth/login", json={"email": sim.email, "password": "x"})
    assert wrong.status_code == 401


def test_expired_token_is_rejected(run):
    sim, base = run(token_ttl_seconds=0)
    token = requests.post(
        f"{base}/auth/login", json={"email": sim.email, "password": sim.password}
    ).json()["token"]
    answer = requests.get(f"{base}/voices", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


# -- call data, analysis, history ---------------------------------------------------------------


def test_call_data_errors(run):
    _, base = run()
    assert call_data(base, "CA" + "0" * 32).status_code == 404
    assert requests.post(f"{base}/call", json={}, headers=KEY).status_code == 400


def test_analysis_only_after_the_end_and_typed_answers(run):
    sim, base = run(final_after_seconds=60)
    sim.script_outcome(NUMBER, "completed", answers={"Budget?": 12})
    sid = make_call(base).json()["call"]["call_id"]
    questions = [
        {"question": "Interested?", "type": "Boolean"},
        {"question": "Budget?", "type": "Number"},
        {"question": "Reason?", "type": "Selector", "options": ["Price", "Timing"]},
        {"question": "Notes?", "type": "Text"},
    ]
    ask = {"sid": sid, "projectId": PROJECT, "questions": questions}
    assert requests.post(f"{base}/call/analysis", json=ask, headers=KEY).status_code == 400

    sim.force_final(sid)
    first = requests.post(f"{base}/call/analysis", json=ask, headers=KEY).json()
    answers = {a["question"]: a["answer"] for a in first["data"]["answers"]}
    assert answers["Interested?"] in ("Yes", "No") and answers["Budget?"] == 12
    assert answers["Reason?"] in ("Price", "Timing") and isinstance(answers["Notes?"], str)
    assert first["data"]["sentiment"] and first["data"]["summary"]
    second = requests.post(f"{base}/call/analysis", json=ask, headers=KEY).json()
    assert second == first  # deterministic per call
    bad = {**ask, "questions": [{"question": "Q", "type": "Colour"}]}
    assert requests.post(f"{base}/call/analysis", json=bad, headers=KEY).status_code == 400


def test_history_filters_and_envelope(run):
    sim, base = run(final_after_seconds=0)
    sim.script_outcome(NUMBER, "busy")
    make_call(base)
    make_call(base, "+14155550999")
    url = f"{base}/call/get-call-history"
    body = {"projectId": PROJECT, "pageSize": 10}
    everything = requests.post(url, json=body, headers=KEY).json()
    assert everything["status"] == "success" and len(everything["data"]) == 2
    busy = requests.post(url, params={"status": "busy"}, json=body, headers=KEY).json()["data"]
    assert [r["to"] for r in busy] == [NUMBER]
    to_other = requests.post(url, params={"to": "+14155550999"}, json=body, headers=KEY).json()
    assert [r["to"] for r in to_other["data"]] == ["+14155550999"]
    later = requests.post(url, params={"startTimeAfter": "2999-01-01"}, json=body, headers=KEY)
    assert later.json()["data"] == []
    assert requests.post(url, json={}, headers=KEY).status_code == 400
    bad_date = requests.post(url, params={"startTimeAfter": "2009-0-06"}, json=body, headers=KEY)
    assert bad_date.status_code == 400


# -- batch ---------------------------------------------------------------------------------------


def upload(base: str, filename: str, content: bytes, agent: str = "agent-renewals"):
    return requests.post(
        f"{base}/call/batch-call",
        headers=KEY,
        data={"projectId": PROJECT, "agentId": agent},
        files={"file": (filename, content)},
    )


def test_batch_csv_rows_become_calls_and_bad_rows_are_reported(run):
    sim, base = run()
    content = (
        b'number,dynamicVariables\n+14155550101,"{""hubspot_contact_id"":""1""}"\n'
        b"+14155550102,\nnot-a-number,{}\n+14155550103,{oops\n\n"
    )
    answer = upload(base, "b.csv", content)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["rows"] == 2 and data["batchId"]
    assert data["rejected"] == [
        {"row": 3, "reason": "invalid number"},
        {"row": 4, "reason": "dynamicVariables is not JSON"},
    ]
    calls = sorted(sim.calls.values(), key=lambda c: c.number)
    assert [(c.number, c.variables, c.agent_id, c.source) for c in calls] == [
        ("+14155550101", {"hubspot_contact_id": "1"}, "agent-renewals", "batch"),
        ("+14155550102", {}, "agent-renewals", "batch"),
    ]
    assert sim.batches[0].content == content and sim.batches[0].sids


def test_batch_xlsx(run):
    sim, base = run()
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("Calls")
    for row, values in enumerate(
        [("number", "dynamicVariables"), ("+14155550111", json.dumps({"name": "Li"}))]
    ):
        sheet.write_row(row, 0, values)
    workbook.close()
    answer = upload(base, "calls.xlsx", buffer.getvalue())
    assert answer.json()["data"]["rows"] == 1
    [call] = sim.calls.values()
    assert (call.number, call.variables) == ("+14155550111", {"name": "Li"})


@pytest.mark.parametrize(("filename", "content"), [
    ("b.csv", b"phone\n+14155550101\n"), ("b.csv", b""), ("b.xlsx", b"PK\x03\x04broken"),
])  # fmt: skip
def test_batch_rejects_unusable_files(run, filename, content):
    sim, base = run()
    assert upload(base, filename, content).status_code == 400
    assert sim.calls == {}


def test_batch_requires_fields(run):
    _, base = run()
    answer = requests.post(
        f"{base}/call/batch-call",
        headers=KEY,
        data={"projectId": PROJECT},
        files={"file": ("b.csv", b"number\n")},
    )
    assert answer.status_code == 400 and "agentId" in answer.json()["message"]


# -- webhooks ------------------------------------------------------------------------------------


def register(base: str, url: str) -> None:
    answer = requests.post(
        f"{base}/project/call-status/add-webhookurl",
        headers=KEY,
        json={"projectId": PROJECT, "webhookURL": url},
    )
    assert answer.status_code == 200


def test_json_webhooks_follow_every_status(run, receiver):
    sim, base = run()
    register(base, receiver.url)
    sim.script_outcome(NUMBER, "completed")
    sid = make_call(base, variables={"hubspot_contact_id": "5"}).json()["call"]["call_id"]
    wait_for(lambda: len(sim.webhook_deliveries) == 3)  # recorded once answered
    assert receiver.statuses() == ["ringing", "in-progress", "completed"]
    final = receiver.received[-1]["json"]
    assert final["callSid"] == sid and final["hubspot_contact_id"] == "5"
    assert final["seconds"] > 0 and receiver.received[0]["json"]["seconds"] == 0
    assert [d.http_status for d in sim.webhook_deliveries] == [204, 204, 204]


def test_form_and_mixed_shapes_and_final_only(run, receiver):
    sim, base = run()
    register(base, receiver.url)
    sim.configure_webhooks(shape="form", intermediate=False)
    sim.script_outcome(NUMBER, "no-answer")
    sid = make_call(base).json()["call"]["call_id"]
    wait_for(lambda: receiver.received)
    [only] = receiver.received
    assert only["mimetype"] == "application/x-www-form-urlencoded"
    assert only["form"] == {
        "CallSid": sid,
        "CallStatus": "no-answer",
        "To": NUMBER,
        "From": "+14155550190",
        "CallDuration": "0",
        "AccountSid": "ACsim",
        "Direction": "outbound-api",
    }

    sim.configure_webhooks(shape="mixed", intermediate=True)
    sim.script_outcome(NUMBER, "completed")
    make_call(base)
    wait_for(lambda: len(receiver.received) == 4)
    assert [r["mimetype"] for r in receiver.received[1:]] == [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/json",
    ]


def test_dropped_and_duplicated_deliveries(run, receiver):
    sim, base = run()
    register(base, receiver.url)
    sim.configure_webhooks(drop_rate=1.0)
    make_call(base)
    wait_for(lambda: any(d.status in FINAL_STATUSES for d in sim.webhook_deliveries))
    assert receiver.received == [] and all(d.dropped for d in sim.webhook_deliveries)

    sim.configure_webhooks(drop_rate=0.0, duplicate_rate=1.0, intermediate=False)
    sid = make_call(base).json()["call"]["call_id"]
    wait_for(lambda: len([d for d in sim.webhook_deliveries if not d.dropped]) == 2)
    assert [r["json"]["callSid"] for r in receiver.received] == [sid, sid]
    assert [d.duplicate for d in sim.webhook_deliveries[-2:]] == [False, True]


def test_delayed_and_reordered_deliveries_all_arrive(run, receiver):
    sim, base = run(final_after_seconds=0.1)
    register(base, receiver.url)
    sim.configure_webhooks(delay_seconds=0.3, reorder=True)
    sim.script_outcome(NUMBER, "completed")
    started = time.monotonic()
    make_call(base)
    wait_for(lambda: len(receiver.received) == 3)
    assert sorted(receiver.statuses()) == ["completed", "in-progress", "ringing"]
    assert min(r["at"] for r in receiver.received) - started >= 0.3


def test_failed_deliveries_are_counted(run, receiver):
    sim, base = run(final_after_seconds=0)
    receiver.status = 500
    register(base, receiver.url)
    sim.configure_webhooks(intermediate=False)
    make_call(base)
    wait_for(lambda: sim.webhook_deliveries)
    assert sim.webhooks.failures == 1 and sim.webhook_deliveries[0].http_status == 500


def test_force_final_sends_the_final_webhook_now(run, receiver):
    sim, base = run(final_after_seconds=60)
    register(base, receiver.url)
    sim.configure_webhooks(intermediate=False)
    sid = make_call(base).json()["call"]["call_id"]
    sim.force_final(sid, "failed")
    wait_for(lambda: receiver.received)
    assert receiver.statuses() == ["failed"] and sim.status_of(sid) == "failed"


def test_configure_webhooks_rejects_bad_settings(run):
    sim, _ = run()
    for bad in ({"shape": "xml"}, {"drop_rate": 2}, {"colour": "red"}):
        with pytest.raises(ValueError):
            sim.configure_webhooks(**bad)


# -- faults --------------------------------------------------------------------------------------


def test_faults_hit_only_their_prefix_and_count_down(run):
    sim, base = run()
    sim.fail_next(2, 503, path_prefix="/voices")
    assert (
        requests.post(
            f"{base}/call/get-call-history", json={"projectId": PROJECT}, headers=KEY
        ).status_code
        == 200
    )
    codes = [requests.get(f"{base}/voices", headers=KEY).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    sim.fail_next(1, 429, retry_after=7)
    limited = requests.get(f"{base}/voices", headers=KEY)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["status"] == "error"
    with pytest.raises(ValueError):
        sim.fail_next(1, 200)


def test_timeout_fault_answers_504_late_and_slow_fault_still_handles(run):
    sim, base = run(fault_sleep_seconds=0.2)
    sim.fail_next(1, "timeout")
    started = time.monotonic()
    assert requests.get(f"{base}/voices", headers=KEY).status_code == 504
    assert time.monotonic() - started >= 0.2
    sim.fail_next(1, "slow", path_prefix="/call/makeCall")
    started = time.monotonic()
    assert make_call(base).status_code == 200 and time.monotonic() - started >= 0.2
    assert len(sim.calls) == 1


# -- other endpoints -----------------------------------------------------------------------------


def test_agent_number_and_voice_endpoints(run):
    sim, base = run()
    agents = requests.get(f"{base}/agent/{PROJECT}", headers=KEY).json()
    assert [a["name"] for a in agents] == ["Sales agent", "Renewals agent"]
    assert set(agents[0]) == {"name", "projectId", "systemInstruction", "id"}
    details = requests.post(
        f"{base}/agent", headers=KEY, json={"projectId": PROJECT, "agentId": "agent-default"}
    ).json()
    assert details == agents[0]
    active = f"{base}/project/active-agent"
    assert requests.post(active, json={"projectId": PROJECT}, headers=KEY).status_code == 404
    set_answer = requests.patch(
        active, headers=KEY, json={"projectId": PROJECT, "active_agent": "agent-default"}
    )
    assert set_answer.json()["project"]["active_agent"] == "agent-default"
    got = requests.post(active, json={"projectId": PROJECT}, headers=KEY).json()
    assert got["active_agent"] == "agent-default"
    number = requests.post(f"{base}/phone-number", json={"agentId": "agent-default"}, headers=KEY)
    assert number.status_code == 200 and number.json()["status"] == "error"
    assert number.json()["data"]["e164"] == "+14155550190"
    assert requests.post(f"{base}/phone-number", json={}, headers=KEY).status_code == 400
    voices = requests.get(f"{base}/voices", headers=KEY).json()["voices"]
    assert requests.get(f"{base}/voices/{voices[0]['voice_id']}", headers=KEY).status_code == 200


def test_no_agents_is_404(run):
    _, base = run(agents=[])
    assert requests.get(f"{base}/agent/{PROJECT}", headers=KEY).status_code == 404


def test_unknown_route_is_json_404(run):
    _, base = run()
    answer = requests.get(f"{base}/nope", headers=KEY)
    assert answer.status_code == 404 and answer.json()["status"] == "error"


# -- control endpoints ---------------------------------------------------------------------------


def test_control_endpoints_script_the_simulator_without_being_recorded(run, receiver):
    sim, base = run(final_after_seconds=60)
    control = f"{base}/_sim"
    assert (
        requests.post(
            f"{control}/outcomes", json={"number": NUMBER, "status": "voicemail", "seconds": 9}
        ).status_code
        == 200
    )
    assert (
        requests.post(
            f"{control}/faults", json={"n": 1, "status": 502, "pathPrefix": "/voices"}
        ).status_code
        == 200
    )
    assert requests.post(f"{control}/webhooks", json={"intermediate": False}).status_code == 200
    assert requests.post(f"{control}/webhooks", json={"colour": 1}).status_code == 400
    register(base, receiver.url)

    assert requests.get(f"{base}/voices", headers=KEY).status_code == 502
    sid = make_call(base).json()["call"]["call_id"]
    forced = requests.post(f"{control}/force-final", json={"sid": sid}).json()
    assert forced["callStatus"] == "voicemail"
    calls = requests.get(f"{control}/calls").json()
    assert calls[sid]["status"] == "voicemail" and calls[sid]["seconds"] == 9
    recorded = requests.get(f"{control}/requests").json()
    assert [r["path"] for r in recorded] == [
        "/project/call-status/add-webhookurl",
        "/voices",
        "/call/makeCall",
    ]
    assert recorded[2]["json"]["number"] == NUMBER
    wait_for(lambda: requests.get(f"{control}/webhooks").json()["deliveries"])

    assert requests.post(f"{control}/reset").status_code == 200
    assert sim.calls == {} and sim.requests == [] and sim.webhook_deliveries == []
    assert requests.get(f"{control}/calls").json() == {}
    assert sim.webhook_url == receiver.url  # project configuration survives a reset

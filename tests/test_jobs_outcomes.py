"""Reconcile → HubSpot write-back, end to end against both simulators (SPEC §7, issue 4).

The connector is served over loopback (the `live` fixture), so the Talkstack simulator
delivers its call-status webhooks to it; a real worker does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select

from store.models import Call, HubSpotWrite, InboundEvent
from tests.conftest import wait_for

# HubSpot's default call-outcome GUIDs (reference/hubspot.md §4.1), spelled out here so the
# test does not trust the module it checks.
CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
LEFT_VOICEMAIL = "b2cf5968-551e-4856-9783-52b3da59a7d0"
BUSY = "9d9162e7-6cf3-4944-bf63-4dff82258764"
NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"

QUESTIONS_TOML = """
[[analysis.questions]]
key = "interested"
question = "Is the contact interested in a demo?"
type = "Boolean"

[[analysis.questions]]
key = "seats"
question = "How many seats do they need?"
type = "Number"

[[analysis.questions]]
key = "timeline"
question = "When do they want to start?"
type = "Selector"
options = ["this quarter", "next quarter", "later"]

[[analysis.questions]]
key = "pricing_note"
question = "What did they say about pricing?"
type = "Text"
"""
ANSWERS = {
    "Is the contact interested in a demo?": "Yes",
    "How many seats do they need?": "25",
    "When do they want to start?": "Next quarter",
    "What did they say about pricing?": "Too expensive <for now>",
}
TYPED_ANSWERS = {
    "talkstack_interested": "true",
    "talkstack_seats": "25",
    "talkstack_timeline": "next quarter",
    "talkstack_pricing_note": "Too expensive <for now>",
}


@dataclass
class Pipeline:
    app: Flask
    url: str

    @property
    def rt(self):
        return self.app.extensions["connector"]

    def start_call(self, contact_id: str) -> int:
        response = self.app.test_client().post(
            "/api/calls", json={"contactId": contact_id},
            headers={"Authorization": f"Bearer {self.rt.settings.api_token}"})
        assert response.status_code == 202, response.get_data(as_text=True)
        return response.get_json()["id"]


@pytest.fixture
def pipeline(live, worker_for):
    """live(**env) plus a running worker: returns a Pipeline."""

    def build(**env) -> Pipeline:
        app, url = live(**env)
        worker_for(app)
        return Pipeline(app, url)

    return build


def engagements_of(hubspot_sim, contact_id: str) -> dict[str, dict]:
    return {eid: dict(e["properties"]) for eid, e in list(hubspot_sim.calls.items())
            if contact_id in e["associations"]}


def talkstack_props(hubspot_sim, contact_id: str) -> dict[str, str]:
    return {k: v for k, v in hubspot_sim.contacts[contact_id].items()
            if k.startswith("talkstack_")}


def sim_calls_to(talkstack_sim, number: str):
    return sorted((c for c in talkstack_sim.call_list() if c.number == number),
                  key=lambda c: c.created_at)


def iso_of(epoch: float) -> str:
    """The call `date` is RFC 2822 (whole seconds) → ISO-8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(int(epoch), UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def settled(rt) -> bool:
    """No inbound event, call check or HubSpot write left to do."""
    with rt.db.session() as session:
        events = session.scalar(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.state == "pending"))
        writes = session.scalar(select(func.count()).select_from(HubSpotWrite).where(
            HubSpotWrite.state == "pending"))
        checks = session.scalar(select(func.count()).select_from(Call).where(
            Call.next_check_at.is_not(None)))
    return events == 0 and writes == 0 and checks == 0


# status → (number, scripted seconds, hs_call_status, disposition GUID or None)
STATUS_CASES = {
    "completed": ("+14155550101", 95, "COMPLETED", CONNECTED),
    "busy": ("+14155550102", None, "BUSY", BUSY),
    "no-answer": ("+14155550103", None, "NO_ANSWER", NO_ANSWER),
    "voicemail": ("+14155550104", 20, "COMPLETED", LEFT_VOICEMAIL),
    "silence": ("+14155550105", 7, "COMPLETED", NO_ANSWER),
    "failed": ("+14155550106", None, "FAILED", None),
}


def test_each_final_status_writes_the_exact_hubspot_properties(pipeline, hubspot_sim,
                                                               talkstack_sim):
    p = pipeline(CALL_RETRY_STATUSES="")
    contacts = {}
    for status, (number, seconds, _, _) in STATUS_CASES.items():
        data = {"interested": "true", "notes": "Wants <b>pricing</b>"} if status == "completed" \
            else {}
        talkstack_sim.script_outcome(number, status, seconds=seconds, data=data)
        contacts[status] = hubspot_sim.add_contact(firstname=status, phone=number)
        p.start_call(contacts[status])

    for status, contact_id in contacts.items():
        wait_for(lambda c=contact_id: engagements_of(hubspot_sim, c)
                 and "talkstack_last_call_status" in hubspot_sim.contacts[c],
                 message=f"{status} written")
    wait_for(lambda: settled(p.rt), message="pipeline settled")

    for status, (number, _, hs_status, disposition) in STATUS_CASES.items():
        contact_id = contacts[status]
        [sim_call] = sim_calls_to(talkstack_sim, number)
        [(engagement_id, props)] = engagements_of(hubspot_sim, contact_id).items()
        expected = {
            "hs_timestamp": iso_of(sim_call.created_at),
            "hs_call_title": "Talkstack AI call",
            "hs_call_direction": "OUTBOUND",
            "hs_call_status": hs_status,
            "hs_call_duration": str(sim_call.seconds * 1000),
            "hs_call_to_number": number,
            "hs_call_from_number": "+14155550190",  # agent-default's caller id
            "talkstack_call_id": sim_call.sid,  # unique: engagement creation is idempotent
        }
        if disposition:
            expected["hs_call_disposition"] = disposition
        if sim_call.recording_urls:
            expected["hs_call_recording_url"] = sim_call.recording_urls[0]
        body = props.pop("hs_call_body")
        assert props == expected, status
        assert ("calls", engagement_id, "contacts", contact_id, 194) in hubspot_sim.associations
        assert f"({status})" in body and sim_call.sid in body
        assert talkstack_props(hubspot_sim, contact_id) == {
            "talkstack_last_call_status": status,
            "talkstack_last_call_at": iso_of(sim_call.created_at),
            "talkstack_last_call_id": sim_call.sid,
            "talkstack_last_call_duration": str(sim_call.seconds),
            "talkstack_call_attempts": "1",
        }, status

    completed_body = hubspot_sim.calls[next(iter(engagements_of(
        hubspot_sim, contacts["completed"])))]["properties"]["hs_call_body"]
    assert "1 min 35 s" in completed_body
    assert "Wants &lt;b&gt;pricing&lt;/b&gt;" in completed_body  # extracted data, escaped
    assert "<b>pricing" not in completed_body
    recordings = [p.get("hs_call_recording_url") for p in hubspot_sim.calls.values()]
    assert all(url is None or url.startswith("https://") for url in recordings)


def test_analysis_answers_land_in_typed_properties_and_the_body(pipeline, hubspot_sim,
                                                                talkstack_sim, tmp_path):
    rules = tmp_path / "connector.toml"
    rules.write_text(QUESTIONS_TOML)
    p = pipeline(CONNECTOR_CONFIG=str(rules), CALL_RETRY_STATUSES="")
    # setup created one typed property per question
    types = {name: (hubspot_sim.properties[name]["type"], hubspot_sim.properties[name]["fieldType"])
             for name in TYPED_ANSWERS}
    assert types == {"talkstack_interested": ("bool", "booleancheckbox"),
                     "talkstack_seats": ("number", "number"),
                     "talkstack_timeline": ("enumeration", "select"),
                     "talkstack_pricing_note": ("string", "text")}
    talkstack_sim.script_outcome("+14155550111", "completed", seconds=61, answers=ANSWERS)
    contact_id = hubspot_sim.add_contact(firstname="Ada", phone="+14155550111")

    p.start_call(contact_id)

    wait_for(lambda: "talkstack_interested" in hubspot_sim.contacts[contact_id]
             and engagements_of(hubspot_sim, contact_id), message="answers written")
    props = talkstack_props(hubspot_sim, contact_id)
    assert {k: props[k] for k in TYPED_ANSWERS} == TYPED_ANSWERS
    [body] = [e["hs_call_body"] for e in engagements_of(hubspot_sim, contact_id).values()]
    for question in ANSWERS:
        assert question in body
    assert "Too expensive &lt;for now&gt;" in body
    asked = talkstack_sim.requests_to("/call/analysis")[0].json["questions"]
    assert [q["type"] for q in asked] == ["Boolean", "Number", "Selector", "Text"]
    assert asked[2]["options"] == ["this quarter", "next quarter", "later"]


def test_analysis_that_is_late_updates_the_engagement_in_place(pipeline, hubspot_sim,
                                                               talkstack_sim, tmp_path):
    """The status is written at once; answers follow on the same engagement."""
    rules = tmp_path / "connector.toml"
    rules.write_text(QUESTIONS_TOML)
    p = pipeline(CONNECTOR_CONFIG=str(rules), CALL_RETRY_STATUSES="")
    talkstack_sim.script_outcome("+14155550112", "completed", seconds=42, answers=ANSWERS)
    contact_id = hubspot_sim.add_contact(firstname="Late", phone="+14155550112")
    # "not ready yet" twice, as Talkstack may answer right after hang-up
    talkstack_sim.fail_next(2, 400, path_prefix="/call/analysis")

    p.start_call(contact_id)

    first = wait_for(lambda: engagements_of(hubspot_sim, contact_id), message="engagement")
    [(engagement_id, early)] = first.items()
    assert early["hs_call_status"] == "COMPLETED"
    assert early["hs_call_duration"] == "42000"
    assert "(no answer)" in early["hs_call_body"]  # written before the answers were ready
    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_seats") == "25",
             timeout=20, message="answers written later")
    wait_for(lambda: "Too expensive" in hubspot_sim.calls[engagement_id]["properties"]
             ["hs_call_body"], message="engagement updated in place")
    assert list(engagements_of(hubspot_sim, contact_id)) == [engagement_id]
    assert len(talkstack_sim.requests_to("/call/analysis")) == 3
    updates = [r for r in hubspot_sim.requests if r.path == "/crm/v3/objects/calls/batch/update"]
    assert any(i["id"] == engagement_id for r in updates for i in r.json["inputs"])


def test_duplicate_and_early_webhooks_end_in_one_engagement_with_final_values(
        pipeline, hubspot_sim, talkstack_sim):
    p = pipeline(CALL_RETRY_STATUSES="")
    number = "+14155550121"
    talkstack_sim.script_outcome(number, "in-progress")  # sticks: never final by itself
    talkstack_sim.configure_webhooks(duplicate_rate=1.0, reorder=True)
    contact_id = hubspot_sim.add_contact(firstname="Dup", phone=number)
    p.start_call(contact_id)
    [sim_call] = wait_for(lambda: sim_calls_to(talkstack_sim, number), message="dialled")
    client = p.app.test_client()
    hook = f"/webhooks/talkstack/{p.rt.settings.talkstack_webhook_token}"
    early = talkstack_sim.record_of(sim_call.sid)
    for _ in range(5):  # deliveries while the call is still going
        assert client.post(hook, json=early).status_code == 204
    wait_for(lambda: calls_checked(p.rt, sim_call.sid) >= 1, message="early check")
    assert engagements_of(hubspot_sim, contact_id) == {}

    talkstack_sim.force_final(sim_call.sid, "completed")
    final = talkstack_sim.record_of(sim_call.sid)
    for _ in range(5):
        assert client.post(hook, json=final).status_code == 204

    wait_for(lambda: engagements_of(hubspot_sim, contact_id), message="engagement")
    wait_for(lambda: settled(p.rt) and webhooks_idle(talkstack_sim), message="settled")
    [props] = engagements_of(hubspot_sim, contact_id).values()
    assert props["hs_call_status"] == "COMPLETED"
    assert props["hs_call_duration"] == str(final["seconds"] * 1000)
    assert props["hs_call_recording_url"] == final["recordingUrls"][0]
    assert talkstack_props(hubspot_sim, contact_id)["talkstack_last_call_status"] == "completed"
    creates = [r for r in hubspot_sim.requests if r.path == "/crm/v3/objects/calls/batch/create"]
    assert sum(len(r.json["inputs"]) for r in creates) == 1


def calls_checked(rt, sid: str) -> int:
    with rt.db.session() as session:
        return session.scalar(select(Call.checks).where(Call.talkstack_call_id == sid)) or 0


def webhooks_idle(talkstack_sim) -> bool:
    return talkstack_sim.webhooks.pending() == 0


def test_dropped_webhooks_are_made_up_for_by_reconciliation(pipeline, hubspot_sim,
                                                            talkstack_sim):
    p = pipeline(CALL_RETRY_STATUSES="", RECONCILE_AFTER_SECONDS="1")
    talkstack_sim.configure_webhooks(drop_rate=0.3)
    numbers = [f"+1415555{200 + i:04d}" for i in range(20)]
    contacts = hubspot_sim.add_contacts([{"phone": n} for n in numbers])
    for contact_id in contacts:
        p.start_call(contact_id)

    for contact_id in contacts:
        wait_for(lambda c=contact_id: engagements_of(hubspot_sim, c)
                 and "talkstack_last_call_status" in hubspot_sim.contacts[c],
                 timeout=30, message=f"outcome for {contact_id}")

    dropped_finals = [d for d in talkstack_sim.webhook_deliveries
                      if d.dropped and d.status not in ("queued", "ringing", "in-progress")]
    assert dropped_finals, "the simulator dropped no final webhook; the test proves nothing"
    mapping = {"completed": "COMPLETED", "voicemail": "COMPLETED", "silence": "COMPLETED",
               "busy": "BUSY", "no-answer": "NO_ANSWER", "failed": "FAILED"}
    for contact_id, number in zip(contacts, numbers, strict=True):
        [sim_call] = sim_calls_to(talkstack_sim, number)
        [props] = engagements_of(hubspot_sim, contact_id).values()
        assert props["hs_call_status"] == mapping[sim_call.final_status]
        assert hubspot_sim.contacts[contact_id]["talkstack_last_call_id"] == sim_call.sid


def test_the_title_names_the_agent_once_the_agent_list_is_cached(pipeline, hubspot_sim,
                                                                 talkstack_sim):
    from jobs.agents import refresh_agents

    p = pipeline(CALL_RETRY_STATUSES="")
    refresh_agents(p.rt)  # the worker task behind the action's agent dropdown
    talkstack_sim.script_outcome("+14155550175", "completed", seconds=5)
    contact_id = hubspot_sim.add_contact(phone="+14155550175")

    p.start_call(contact_id)

    [props] = wait_for(lambda: list(engagements_of(hubspot_sim, contact_id).values()),
                       message="engagement")
    assert props["hs_call_title"] == "Talkstack AI call — Sales agent"
    assert "<strong>Agent:</strong> Sales agent" in props["hs_call_body"]

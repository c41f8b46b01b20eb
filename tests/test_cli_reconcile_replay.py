"""`flask connector reconcile` and `flask connector replay [--dead] [ID]` (SPEC §8, §9)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from store.models import Call, CallRequest, DeadLetter
from tests.conftest import make_calls, wait_for


@pytest.fixture
def running(live, worker_for):
    def build(**env):
        app, _url = live(**env)
        worker_for(app)
        return app

    return build


def cli(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["connector", *args])
    for secret in app.extensions["connector"].settings.secrets():
        assert secret not in result.output
    assert result.exit_code == 0, result.output
    return result.output


def make_call(talkstack_sim, number: str, contact_id: str) -> str:
    return make_calls(talkstack_sim, [(number, contact_id)])[0]


def open_letters(rt) -> list[DeadLetter]:
    with rt.db.session() as session:
        return list(session.scalars(select(DeadLetter).where(DeadLetter.replayed_at.is_(None))
                                    .order_by(DeadLetter.id)))


def test_reconcile_finds_outcomes_whose_webhook_never_came(running, hubspot_sim,
                                                           talkstack_sim):
    app = running(CALL_RETRY_STATUSES="")  # and RECONCILE_AFTER_SECONDS=120 (conftest)
    rt = app.extensions["connector"]
    talkstack_sim.configure_webhooks(drop_rate=1.0)
    talkstack_sim.script_outcome("+14155550151", "busy")
    contact_id = hubspot_sim.add_contact(phone="+14155550151")
    headers = {"Authorization": f"Bearer {rt.settings.api_token}"}
    request_id = app.test_client().post("/api/calls", json={"contactId": contact_id},
                                        headers=headers).get_json()["id"]
    [sid] = wait_for(lambda: [c.sid for c in talkstack_sim.call_list()
                              if talkstack_sim.status_of(c.sid) == "busy"], message="call over")
    wait_for(lambda: app.test_client().get(f"/api/calls/{request_id}", headers=headers)
             .get_json()["state"] == "calling", message="dialled")
    assert _final(rt, sid) is False

    output = cli(app, "reconcile")

    assert "queued checks for 1 calls" in output
    wait_for(lambda: hubspot_sim.calls and hubspot_sim.contacts[contact_id]
             .get("talkstack_last_call_status") == "busy", message="outcome written")
    assert _final(rt, sid) is True
    assert [e["properties"]["hs_call_status"] for e in hubspot_sim.calls.values()] == ["BUSY"]


def _final(rt, sid: str) -> bool:
    with rt.db.session() as session:
        return session.scalar(select(Call.is_final).where(Call.talkstack_call_id == sid))


def test_replay_lists_then_replays_one_dead_write(running, hubspot_sim, talkstack_sim):
    app = running()
    rt = app.extensions["connector"]
    contact_id = hubspot_sim.add_contact(phone="+14155550152")
    talkstack_sim.script_outcome("+14155550152", "completed", seconds=33)
    hubspot_sim.fail_next(1, 400, path_prefix="/crm/v3/objects/calls/batch/create")
    make_call(talkstack_sim, "+14155550152", contact_id)
    [letter] = wait_for(lambda: open_letters(rt), message="dead letter")

    listing = cli(app, "replay")

    assert re.search(rf"^{letter.id}\twrite\t\d+\t.*VALIDATION_ERROR", listing, re.M)
    assert "1 open dead letters" in listing
    assert hubspot_sim.calls == {}

    assert "replayed 1 of 1" in cli(app, "replay", str(letter.id))

    wait_for(lambda: hubspot_sim.calls, message="engagement created on replay")
    [engagement] = hubspot_sim.calls.values()
    assert engagement["properties"]["hs_call_duration"] == "33000"
    assert contact_id in engagement["associations"]
    assert open_letters(rt) == []
    again = app.test_cli_runner().invoke(args=["connector", "replay", str(letter.id)])
    assert again.exit_code != 0 and f"no open dead letter {letter.id}" in again.output


def test_replay_dead_replays_every_open_letter(running, hubspot_sim, talkstack_sim):
    app = running()
    rt = app.extensions["connector"]
    contact_id = hubspot_sim.add_contact(phone="+14155550153")
    talkstack_sim.script_outcome("+14155550153", "voicemail", seconds=18)
    hubspot_sim.fail_next(1, 400, path_prefix="/crm/v3/objects/calls/batch/create")
    hubspot_sim.fail_next(1, 400, path_prefix="/crm/v3/objects/contacts/batch/update")
    make_call(talkstack_sim, "+14155550153", contact_id)
    wait_for(lambda: len(open_letters(rt)) == 2, message="two dead letters")

    assert "replayed 2 of 2" in cli(app, "replay", "--dead")

    wait_for(lambda: hubspot_sim.calls and hubspot_sim.contacts[contact_id]
             .get("talkstack_last_call_status") == "voicemail", message="both replayed")
    assert len(hubspot_sim.calls) == 1
    assert "replayed 0 of 0" in cli(app, "replay", "--dead")


def test_replay_redials_a_request_whose_dial_failed_permanently(running, hubspot_sim,
                                                                talkstack_sim):
    app = running()
    rt = app.extensions["connector"]
    contact_id = hubspot_sim.add_contact(phone="+14155550154")
    talkstack_sim.script_outcome("+14155550154", "completed", seconds=40)
    talkstack_sim.fail_next(1, 400, path_prefix="/call/makeCall")
    headers = {"Authorization": f"Bearer {rt.settings.api_token}"}
    request_id = app.test_client().post("/api/calls", json={"contactId": contact_id},
                                        headers=headers).get_json()["id"]
    [letter] = wait_for(lambda: open_letters(rt), message="dial dead-lettered")
    assert (letter.kind, letter.ref_id) == ("request", request_id)
    assert talkstack_sim.call_list() == []

    assert "replayed 1 of 1" in cli(app, "replay", "--dead")

    wait_for(lambda: hubspot_sim.contacts[contact_id].get("talkstack_last_call_status")
             == "completed", message="called after replay")
    with rt.db.session() as session:
        request = session.get(CallRequest, request_id)
        assert (request.state, request.attempts) == ("done", 1)
    assert len(talkstack_sim.call_list()) == 1

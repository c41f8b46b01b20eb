"""Dialling details: follow-ups use fresh contact data; an action whose follow-up cannot be
made still reports the call that was made; the sweeper does not re-enqueue a backlog."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from store.clock import utcnow
from store.models import InboundEvent
from tests.conftest import wait_for
from tests.test_workflow_action import Action, completed, dials

FOLLOW_UPS = {"CALL_RETRY_DELAY_MINUTES": "0.01", "CALL_MAX_ATTEMPTS": "2"}


def test_a_follow_up_sends_the_contacts_current_values(
    live, worker_for, hubspot_sim, talkstack_sim
):
    app, _ = live(**FOLLOW_UPS)
    worker_for(app)
    talkstack_sim.script_outcome("+14155550181", "no-answer", repeat=False)
    talkstack_sim.script_outcome("+14155550181", "completed")
    contact = hubspot_sim.add_contact(firstname="Old", phone="+14155550181")
    headers = {"Authorization": f"Bearer {app.extensions['connector'].settings.api_token}"}
    app.test_client().post(
        "/api/calls", json={"contactId": contact, "variables": {"campaign": "q4"}}, headers=headers
    )
    wait_for(lambda: dials(talkstack_sim), 15, message="first dial")
    hubspot_sim.write_contact(contact, {"firstname": "New"})
    second = wait_for(lambda: dials(talkstack_sim)[1:], 30, message="follow-up dial")[0]
    variables = second.json["dynamicVariables"]
    assert variables["firstname"] == "New" and variables["campaign"] == "q4"


def test_an_action_whose_follow_up_is_blocked_reports_the_call_made(
    live, worker_for, hubspot_sim, talkstack_sim
):
    app, url = live(**FOLLOW_UPS)
    worker_for(app)
    action = Action(app, url, hubspot_sim.client_secret)
    talkstack_sim.script_outcome("+14155550182", "busy")
    contact = hubspot_sim.add_contact(phone="+14155550182")
    callback_id = action.execute(contact)
    wait_for(lambda: dials(talkstack_sim), 15, message="first dial")
    hubspot_sim.write_contact(contact, {"talkstack_do_not_call": "true"})  # opts out meanwhile
    outputs = completed(hubspot_sim, callback_id, timeout=30)
    assert outputs["hs_execution_state"] == "SUCCESS"  # a call was made: not FAIL_CONTINUE
    assert (outputs["call_status"], outputs["call_outcome"], outputs["attempts"]) == (
        "busy",
        "Busy",
        1,
    )
    assert len(dials(talkstack_sim)) == 1


def test_the_sweeper_wakes_a_waiting_event_once_per_lease(rt):
    from jobs.sweeper import sweep

    with rt.db.session() as session:
        session.add(
            InboundEvent(
                source="hubspot_app",
                dedupe_key="k",
                raw_body=b"[]",
                payload={},
                state="pending",
                created_at=utcnow() - timedelta(seconds=5),
            )
        )
    assert sweep(rt)["events"] == 1
    assert sweep(rt)["events"] == 0  # its wake-up is queued: not again on every sweep
    with rt.db.session() as session:
        session.execute(
            update(InboundEvent).values(
                woken_at=utcnow() - timedelta(seconds=rt.settings.lease_seconds + 1)
            )
        )
    assert sweep(rt)["events"] == 1  # the wake-up was lost: woken again after a lease


def test_an_action_hubspot_stopped_waiting_for_is_completed_as_expired(
    rt, setup_done, hubspot_sim, worker
):
    from jobs.events import create_request
    from jobs.expiry import ACTION_EXPIRY
    from store.models import CallRequest

    request_id = create_request(
        rt,
        trigger="workflow_action",
        trigger_key="action:cb-old",
        contact_id="1",
        callback_id="cb-old",
    )
    with rt.db.session() as session:
        session.execute(
            update(CallRequest).values(
                created_at=utcnow() - ACTION_EXPIRY - timedelta(minutes=1), state="calling"
            )
        )
    outputs = wait_for(
        lambda: [f for cb, f in hubspot_sim.callback_completions if cb == "cb-old"],
        20,
        message="expiry completion",
    )[0]
    assert outputs == {"hs_execution_state": "FAIL_CONTINUE", "reason": "expired"}
    with rt.db.session() as session:
        assert session.get(CallRequest, request_id).state == "expired"

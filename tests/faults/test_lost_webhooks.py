"""10 % of Talkstack's call-status webhooks never arrive: reconciliation (polling Get call
data for calls without a final outcome) still writes every outcome (SPEC §8)."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.faults.harness import (
    assert_one_engagement_per_call,
    chunked,
    seed_contacts,
    trigger_events,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
CONTACTS = 200
HS_CALL_STATUS = {"completed": "COMPLETED", "voicemail": "COMPLETED", "silence": "COMPLETED",
                  "busy": "BUSY", "no-answer": "NO_ANSWER", "failed": "FAILED",
                  "canceled": "CANCELED"}


def test_outcomes_of_calls_whose_webhook_was_lost_are_still_written(
        stack, hubspot_sim, talkstack_sim):
    # Only final-status webhooks, 10 % of them dropped: those calls are found by polling alone.
    talkstack_sim.configure_webhooks(drop_rate=0.1, intermediate=False)
    deployment = stack(CALL_MAX_ATTEMPTS="1", RECONCILE_AFTER_SECONDS="1")
    deployment.release()
    deployment.start_web()
    contacts = seed_contacts(hubspot_sim, CONTACTS)
    deployment.start_worker()
    for events in chunked(trigger_events(hubspot_sim, list(contacts)), 50):
        assert deployment.deliver(events) == 204

    wait_for(lambda: deployment.settled(CONTACTS), 180, interval=0.5, message="all settled")
    assert deployment.request_states() == {("done", None): CONTACTS}
    lost = {d.sid for d in talkstack_sim.webhook_deliveries if d.dropped}
    delivered = {d.sid for d in talkstack_sim.webhook_deliveries if not d.dropped}
    only_polled = lost - delivered
    assert len(only_polled) >= CONTACTS // 40, f"too few webhooks lost to prove much: {len(lost)}"

    assert_one_engagement_per_call(hubspot_sim, talkstack_sim, contacts)
    final = {call.sid: call.final_status for call in talkstack_sim.call_list()}
    for engagement in hubspot_sim.calls.values():
        sid = next(s for s in final if s in engagement["properties"]["hs_call_body"])
        assert engagement["properties"]["hs_call_status"] == HS_CALL_STATUS[final[sid]]
    for sid in only_polled:
        number = talkstack_sim.calls[sid].number
        contact_id = next(c for c, n in contacts.items() if n == number)
        properties = hubspot_sim.contacts[contact_id]
        assert properties["talkstack_last_call_id"] == sid
        assert properties["talkstack_last_call_status"] == final[sid]

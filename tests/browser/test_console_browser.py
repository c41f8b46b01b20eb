"""The console in headless Chromium: log in, follow a completed call to its trace, replay a
dead letter. Each test drives real work through the simulators and a worker first."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.models import DeadLetter, HubSpotWrite
from tests.conftest import wait_for

ENGAGEMENT_PATH = "/crm/v3/objects/calls/batch/create"


@pytest.fixture
def served(live, worker_for):
    app, url = live()
    worker_for(app)
    return app, url


def log_in(page, url: str, token: str) -> None:
    page.goto(url + "/")
    assert "/login" in page.url
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Recent calls')")


def place_call(app, hubspot_sim, talkstack_sim, number: str, **properties) -> int:
    rt = app.extensions["connector"]
    contact = hubspot_sim.add_contact(phone=number, **properties)
    talkstack_sim.script_outcome(number, "completed", seconds=95)
    headers = {"Authorization": f"Bearer {rt.settings.api_token}"}
    return app.test_client().post("/api/calls", json={"contactId": contact},
                                  headers=headers).json["id"]


def writes_settled(rt) -> bool:
    with rt.db.session() as session:
        states = list(session.scalars(select(HubSpotWrite.state)))
    return bool(states) and all(state in ("done", "dead") for state in states)


def test_log_in(served, page, screenshot):
    app, url = served
    token = app.extensions["connector"].settings.api_token
    page.goto(url + "/")
    page.fill("#token", "wrong-token")
    page.click("button[type=submit]")
    assert page.locator(".flash.bad").inner_text() == "That is not the API token."
    log_in(page, url, token)
    assert page.locator("nav a.current").inner_text() == "Calls"
    screenshot()


def test_completed_call_and_its_trace(served, page, screenshot, hubspot_sim, talkstack_sim):
    app, url = served
    rt = app.extensions["connector"]
    request_id = place_call(app, hubspot_sim, talkstack_sim, "+14155550123",
                            firstname="Maya", lastname="Okafor", company="Brightline")
    wait_for(lambda: writes_settled(rt) and hubspot_sim.calls, 20, message="outcome written")
    log_in(page, url, rt.settings.api_token)
    row = page.locator("#calls tbody tr", has_text="Maya Okafor")
    assert "Connected" in row.inner_text() and "done" in row.inner_text()
    screenshot("-calls")
    row.locator(f"a[href='/calls/{request_id}']").click()
    page.wait_for_selector("h2:has-text('4. HubSpot writes')")
    assert page.locator("#request-state").inner_text() == "done"
    writes = page.locator("table.writes").inner_text()
    assert "call_engagement" in writes and "contact_update" in writes
    assert next(iter(hubspot_sim.calls)) in page.content()
    screenshot("-trace")


def test_replay_a_dead_letter(served, page, screenshot, hubspot_sim, talkstack_sim):
    app, url = served
    rt = app.extensions["connector"]
    hubspot_sim.fail_next(1, status=400, path_prefix=ENGAGEMENT_PATH)
    place_call(app, hubspot_sim, talkstack_sim, "+14155550124", firstname="Jonas")

    def open_letter():
        with rt.db.session() as session:
            return session.scalar(select(DeadLetter.id).where(DeadLetter.replayed_at.is_(None)))

    letter_id = wait_for(open_letter, 20, message="a dead letter")
    log_in(page, url, rt.settings.api_token)
    page.click("nav >> text=Dead letters")
    row = page.locator("#dead-letters tbody tr")
    assert row.count() == 1 and "write" in row.inner_text()
    screenshot("-before")
    row.locator("button:has-text('Replay')").click()
    page.wait_for_selector(".flash.ok")
    assert f"Dead letter {letter_id} replayed" in page.locator(".flash.ok").inner_text()
    assert page.locator("#no-dead-letters").is_visible()
    wait_for(lambda: hubspot_sim.calls, 20, message="engagement written after replay")
    page.reload()
    assert "write" in page.locator("#replayed").inner_text()
    screenshot("-after")

"""`flask connector call|migrate|worker` (setup, batch, reconcile and replay have their own)."""

from __future__ import annotations

import json

from sqlalchemy import select

from store.migrate import current_revision
from store.models import CallRequest
from tests.conftest import wait_for


def test_migrate_reports_the_revision(app, rt):
    result = app.test_cli_runner().invoke(args=["connector", "migrate"])
    assert result.exit_code == 0, result.output
    assert current_revision(rt.db) in result.output


def test_call_records_a_request(app, rt):
    result = app.test_cli_runner().invoke(args=["connector", "call", "1234"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    with rt.db.session() as session:
        request = session.get(CallRequest, printed["id"])
        assert (request.contact_id, request.trigger) == ("1234", "cli")


def test_call_refuses_a_non_numeric_id(app, rt):
    result = app.test_cli_runner().invoke(args=["connector", "call", "abc"])
    assert result.exit_code != 0
    with rt.db.session() as session:
        assert session.scalar(select(CallRequest)) is None


def test_cli_call_dials_with_a_worker(live, hubspot_sim, talkstack_sim, worker_for):
    app, _ = live()
    worker_for(app)
    contact = hubspot_sim.add_contact(phone="(212) 555-0123")
    result = app.test_cli_runner().invoke(args=["connector", "call", contact])
    assert result.exit_code == 0
    made = wait_for(lambda: [r for r in talkstack_sim.requests if r.path.endswith("makeCall")], 15)
    assert made[0].json["number"] == "+12125550123"

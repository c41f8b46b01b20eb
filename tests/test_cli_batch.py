"""`flask connector batch`: dry run writes files locally and uploads nothing."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from store.models import Batch, HubSpotWrite


@pytest.fixture
def app(make_app):
    return make_app(TALKSTACK_AGENT_ID="agent-sales", BATCH_MAX_ROWS=2)


def seeded_list(hubspot_sim) -> tuple[str, list[str]]:
    known = dict.fromkeys(("phone", "firstname", "talkstack_last_skip_reason"), "")
    ids = hubspot_sim.add_contacts([{**known, **row} for row in (
        {"phone": "+14155550131", "firstname": "Ann"},
        {"phone": "+14155550132", "firstname": "=cmd"},
        {"phone": "+14155550131", "firstname": "Dup"},
        {"phone": "+14155550133"},
    )])
    return hubspot_sim.add_list(ids), ids


def test_dry_run_writes_files_locally_and_uploads_nothing(app, rt, hubspot_sim, talkstack_sim,
                                                         tmp_path):
    list_id, ids = seeded_list(hubspot_sim)
    out = tmp_path / "out"
    result = app.test_cli_runner().invoke(
        args=["connector", "batch", "--list", list_id, "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.suffix for f in files] == [".csv", ".csv"]
    for f in files:
        assert str(f) in result.output
    assert "3 rows in 2 files" in result.output and "duplicate 1" in result.output
    rows = [r for f in files for r in list(csv.reader(io.StringIO(f.read_text())))[1:]]
    assert [r[0] for r in rows] == ["+14155550131", "+14155550132", "+14155550133"]
    assert json.loads(rows[1][1])["firstname"] == "'=cmd"
    assert talkstack_sim.requests_to("/call/batch-call") == []
    assert not any(r.method != "GET" and "batch/read" not in r.path
                   for r in hubspot_sim.requests)  # nothing written to HubSpot
    with rt.db.session() as session:
        assert session.scalars(select(HubSpotWrite)).all() == []


def test_dry_run_xlsx(app, hubspot_sim, talkstack_sim, tmp_path):
    list_id, _ids = seeded_list(hubspot_sim)
    result = app.test_cli_runner().invoke(args=[
        "connector", "batch", "--list", list_id, "--format", "xlsx", "--dry-run",
        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    first = sorted(tmp_path.glob("*.xlsx"))[0]
    sheet = load_workbook(first).active
    assert [c.value for c in sheet[1]] == ["number", "dynamicVariables"]
    assert sheet.max_row == 3


def test_without_dry_run_the_batch_is_queued(app, rt, hubspot_sim, talkstack_sim):
    list_id, _ids = seeded_list(hubspot_sim)
    result = app.test_cli_runner().invoke(args=["connector", "batch", "--list", list_id])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    with rt.db.session() as session:
        batch = session.get(Batch, printed["id"])
        assert (batch.state, batch.source, batch.dry_run) == ("pending", {"listId": list_id},
                                                             False)
    assert talkstack_sim.batches == []  # the worker uploads, not the command


def test_dry_run_of_an_unknown_list_fails_clearly(app, hubspot_sim, talkstack_sim, tmp_path):
    out = tmp_path / "out"
    result = app.test_cli_runner().invoke(
        args=["connector", "batch", "--list", "424242", "--dry-run", "--out", str(out)])
    assert result.exit_code != 0
    assert "424242" in result.output and "failed" in result.output
    assert not out.exists()


def test_list_id_must_be_digits(app):
    result = app.test_cli_runner().invoke(args=["connector", "batch", "--list", "abc"])
    assert result.exit_code != 0 and "--list" in result.output

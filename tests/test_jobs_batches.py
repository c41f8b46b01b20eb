"""Batch pipeline against both simulators: sources, policy skips, files, upload, settling."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from jobs.batches import create_batch, run_batch
from simulators.server import serve
from store.clock import utcnow
from store.models import Batch, BatchFile, BatchRow, Call, DeadLetter
from tests.conftest import wait_for

AGENT = "agent-sales"  # an agent the Talkstack simulator knows
# Seeding these (empty) registers them as contact properties in the HubSpot simulator, so
# writing talkstack_last_skip_reason back is not a 400 for an unknown property.
KNOWN_PROPERTIES = ("firstname", "lastname", "company", "phone", "mobilephone", "hs_timezone",
                    "talkstack_do_not_call", "talkstack_last_call_at",
                    "talkstack_last_skip_reason", "talkstack_call_attempts",
                    "talkstack_last_call_duration", "talkstack_last_call_id",
                    "talkstack_last_call_status")
FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture
def app(make_app):
    return make_app(TALKSTACK_AGENT_ID=AGENT)


def seed(hubspot_sim, rows: list[dict]) -> list[str]:
    return hubspot_sim.add_contacts([{**dict.fromkeys(KNOWN_PROPERTIES, ""), **row}
                                     for row in rows])


def phone(n: int) -> str:
    return f"+1415555{n:04d}"


def rows_of(rt, batch_id) -> list[BatchRow]:
    with rt.db.session() as session:
        return list(session.scalars(select(BatchRow).where(BatchRow.batch_id == batch_id)
                                    .order_by(BatchRow.position)))


def batch_state(rt, batch_id) -> str:
    with rt.db.session() as session:
        return session.get(Batch, batch_id).state


def hubspot_paths(hubspot_sim) -> list[str]:
    return [r.path for r in hubspot_sim.requests]


def policy_contacts(hubspot_sim) -> dict[str, str]:
    """One contact per policy outcome, in list order; returns name → contact id."""
    recent = (utcnow() - timedelta(hours=1)).isoformat() + "Z"
    names = ["good", "duplicate", "invalid", "no_number", "opted_out", "cooldown", "formula",
             "mobile_only"]
    ids = seed(hubspot_sim, [
        {"firstname": "Good", "phone": phone(101), "company": "Acme"},
        {"firstname": "Dup", "phone": "(415) 555-0101"},  # same number as "good", later
        {"firstname": "Bad", "phone": "12"},
        {"firstname": "None"},
        {"firstname": "Out", "phone": phone(104), "talkstack_do_not_call": "true"},
        {"firstname": "Recent", "phone": phone(105), "talkstack_last_call_at": recent},
        {"firstname": FORMULA, "lastname": "+SUM(A1)", "phone": phone(106)},
        {"firstname": "Mobile", "mobilephone": phone(107)},
    ])
    return dict(zip(names, ids, strict=True))


EXPECTED_SKIPS = {"duplicate": "duplicate", "invalid": "invalid_number",
                  "no_number": "no_number", "opted_out": "opted_out", "cooldown": "cooldown"}


def test_list_batch_skips_with_reasons_uploads_callable_rows_and_writes_reasons_back(
        rt, hubspot_sim, talkstack_sim, worker):
    contacts = policy_contacts(hubspot_sim)
    list_id = hubspot_sim.add_list(contacts.values())
    batch_id = create_batch(rt, {"listId": list_id})
    wait_for(lambda: batch_state(rt, batch_id) in ("uploaded", "done"), message="upload")

    by_contact = {row.contact_id: row for row in rows_of(rt, batch_id)}
    for name, reason in EXPECTED_SKIPS.items():
        row = by_contact[contacts[name]]
        assert (row.state, row.reason) == ("skipped", reason), name
    assert by_contact[contacts["duplicate"]].number == phone(101)
    callable_ids = [contacts[n] for n in ("good", "formula", "mobile_only")]
    for contact_id in callable_ids:
        assert by_contact[contact_id].state in ("uploaded", "done")
        assert by_contact[contact_id].file_index == 1

    assert len(talkstack_sim.batches) == 1
    uploaded = talkstack_sim.batches[0]
    assert uploaded.agent_id == AGENT
    table = list(csv.reader(io.StringIO(uploaded.content.decode())))
    assert table[0] == ["number", "dynamicVariables"]
    assert [r[0] for r in table[1:]] == [phone(101), phone(106), phone(107)]
    variables = [json.loads(r[1]) for r in table[1:]]
    assert [v["hubspot_contact_id"] for v in variables] == callable_ids
    assert variables[0]["company"] == "Acme"

    def reasons_written():
        return all(hubspot_sim.contacts[contacts[name]].get("talkstack_last_skip_reason")
                   == reason for name, reason in EXPECTED_SKIPS.items())

    wait_for(reasons_written, message="talkstack_last_skip_reason written to HubSpot")
    assert "talkstack_last_skip_reason" not in hubspot_sim.contacts[contacts["good"]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_in_a_name_never_becomes_a_live_formula(rt, hubspot_sim, talkstack_sim, fmt):
    (contact_id,) = seed(hubspot_sim, [{"firstname": FORMULA, "lastname": "@cmd",
                                        "phone": phone(201)}])
    batch_id = create_batch(rt, {"contactIds": [contact_id]}, fmt=fmt, enqueue=False)
    run_batch(rt, batch_id)
    assert batch_state(rt, batch_id) == "uploaded"
    content = talkstack_sim.batches[0].content
    if fmt == "csv":
        cells = list(csv.reader(io.StringIO(content.decode())))[1]
    else:
        sheet = load_workbook(io.BytesIO(content)).active
        row = next(sheet.iter_rows(min_row=2, max_row=2))
        assert all(cell.data_type == "s" for cell in row)  # strings, no formula cells
        cells = [cell.value for cell in row]
    number, variables_cell = cells
    assert number == phone(201)
    assert variables_cell.startswith("{")
    variables = json.loads(variables_cell)
    assert variables["firstname"] == "'" + FORMULA
    assert variables["lastname"] == "'@cmd"
    assert variables["hubspot_contact_id"] == contact_id


def test_first_contact_in_source_order_keeps_a_shared_number(rt, hubspot_sim, talkstack_sim):
    first_id, later_id = seed(hubspot_sim, [{"phone": phone(301)}, {"phone": phone(301)}])
    # Source order puts the higher id first: it keeps the number, whatever the ids say.
    batch_id = create_batch(rt, {"contactIds": [later_id, first_id, later_id]}, enqueue=False)
    run_batch(rt, batch_id)
    rows = rows_of(rt, batch_id)
    assert [(r.contact_id, r.state, r.reason) for r in rows] == [
        (later_id, "uploaded", None), (first_id, "skipped", "duplicate")]


def test_search_source_reads_matches_and_applies_the_policy(rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [
        {"company": "Acme", "phone": phone(401)},
        {"company": "Other", "phone": phone(402)},
        {"company": "Acme", "phone": phone(403), "talkstack_do_not_call": "true"},
    ])
    groups = [{"filters": [{"propertyName": "company", "operator": "EQ", "value": "Acme"}]}]
    batch_id = create_batch(rt, {"filter": {"filterGroups": groups}}, enqueue=False)
    run_batch(rt, batch_id)
    rows = rows_of(rt, batch_id)
    assert [(r.contact_id, r.state, r.reason) for r in rows] == [
        (ids[0], "uploaded", None), (ids[2], "skipped", "opted_out")]
    assert "/crm/v3/objects/contacts/search" in hubspot_paths(hubspot_sim)


def test_requests_are_one_per_membership_page_plus_one_per_hundred_contacts(
        rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": f"+1650555{n:04d}"} for n in range(601)])
    list_id = hubspot_sim.add_list(ids)
    hubspot_sim.requests.clear()
    batch_id = create_batch(rt, {"listId": list_id}, dry_run=True, enqueue=False)
    run_batch(rt, batch_id)
    paths = hubspot_paths(hubspot_sim)
    assert paths.count(f"/crm/v3/lists/{list_id}/memberships") == 3  # ⌈601/250⌉
    assert paths.count("/crm/v3/objects/contacts/batch/read") == 7  # ⌈601/100⌉
    assert len(paths) == 10
    assert batch_state(rt, batch_id) == "done"
    assert talkstack_sim.batches == []  # a dry run uploads nothing


def test_rows_are_split_into_files_of_at_most_batch_max_rows(make_app, hubspot_sim,
                                                            talkstack_sim):
    rt = make_app(TALKSTACK_AGENT_ID=AGENT, BATCH_MAX_ROWS=3).extensions["connector"]
    ids = seed(hubspot_sim, [{"phone": phone(500 + n)} for n in range(7)])
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    run_batch(rt, batch_id)
    assert [r.file_index for r in rows_of(rt, batch_id)] == [1, 1, 1, 2, 2, 2, 3]
    with rt.db.session() as session:
        files = list(session.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id)
                                     .order_by(BatchFile.index)))
    assert [f.rows for f in files] == [3, 3, 1]
    assert [b.content for b in talkstack_sim.batches] == [f.content for f in files]
    assert all(f.uploaded_at is not None for f in files)


def test_a_build_that_died_half_way_is_redone_cleanly(rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": phone(600 + n)} for n in range(3)])
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    with rt.db.session() as session:  # what a worker killed mid-build leaves behind
        session.add(BatchRow(batch_id=batch_id, position=0, contact_id=ids[0],
                             number=phone(600), state="queued", file_index=1))
        session.add(BatchFile(batch_id=batch_id, index=1, rows=1, filename="x.csv",
                              content_type="text/csv", content=b"partial"))
        session.execute(update(Batch).where(Batch.id == batch_id).values(
            state="building", lease_until=utcnow() - timedelta(seconds=1)))
    run_batch(rt, batch_id)
    rows = rows_of(rt, batch_id)
    assert [(r.contact_id, r.state) for r in rows] == [(i, "uploaded") for i in ids]
    assert talkstack_sim.batches[0].content.count(b"\r\n") == 4  # header + 3 rows
    with rt.db.session() as session:
        assert session.scalar(select(func.count(BatchFile.id))) == 1


def test_a_file_is_never_uploaded_twice(rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": phone(700)}])
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    run_batch(rt, batch_id)
    with rt.db.session() as session:  # pretend the batch must be looked at again
        session.execute(update(Batch).where(Batch.id == batch_id).values(state="uploading"))
    run_batch(rt, batch_id)
    assert len(talkstack_sim.batches) == 1


def test_an_interrupted_upload_is_not_resent(rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": phone(710)}])
    batch_id = create_batch(rt, {"contactIds": ids}, dry_run=True, enqueue=False)
    run_batch(rt, batch_id)
    with rt.db.session() as session:  # a worker died after sending, before recording
        session.execute(update(Batch).where(Batch.id == batch_id).values(
            state="uploading", dry_run=False))
        session.execute(update(BatchFile).where(BatchFile.batch_id == batch_id).values(
            upload_response={"state": "sending"}))
    run_batch(rt, batch_id)
    assert talkstack_sim.batches == []
    assert [r.state for r in rows_of(rt, batch_id)] == ["uploaded"]
    with rt.db.session() as session:
        file = session.scalar(select(BatchFile).where(BatchFile.batch_id == batch_id))
        assert file.uploaded_at is not None and file.upload_response["state"] == "ambiguous"


def test_rate_limited_upload_is_retried_later(rt, hubspot_sim, talkstack_sim):
    ids = seed(hubspot_sim, [{"phone": phone(720)}])
    talkstack_sim.fail_next(4, 429, path_prefix="/call/batch-call", retry_after=0.01)
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    run_batch(rt, batch_id)
    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        assert (batch.state, batch.attempts) == ("uploading", 1)
        assert batch.not_before is not None and batch.lease_until is None
    assert talkstack_sim.batches == []
    wait_for(lambda: (run_batch(rt, batch_id), batch_state(rt, batch_id))[1] == "uploaded",
         timeout=5, message="retry after not_before")
    assert len(talkstack_sim.batches) == 1


def test_unknown_list_fails_the_batch_with_a_dead_letter(rt, hubspot_sim, talkstack_sim):
    batch_id = create_batch(rt, {"listId": "999"}, enqueue=False)
    run_batch(rt, batch_id)
    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch.state == "failed" and "999" in batch.last_error
        letter = session.scalar(select(DeadLetter).where(DeadLetter.kind == "batch"))
        assert letter.ref_id == batch_id


def _serve_webhooks(app, rt, talkstack_sim):
    server = serve(app)
    token = rt.settings.talkstack_webhook_token
    talkstack_sim.webhook_url = f"{server.url}/webhooks/talkstack/{token}"
    return server


def test_end_to_end_calls_finish_and_rows_reach_done_with_outcomes(
        make_app, hubspot_sim, talkstack_sim, worker_factory):
    app = make_app(TALKSTACK_AGENT_ID=AGENT, CALL_RETRY_DELAY_MINUTES=0)
    rt = app.extensions["connector"]
    ids = seed(hubspot_sim, [{"firstname": f"C{n}", "phone": phone(800 + n)} for n in range(3)])
    talkstack_sim.script_outcome(phone(800), "completed", seconds=42)
    talkstack_sim.script_outcome(phone(801), "busy", repeat=False)  # earns a follow-up...
    talkstack_sim.script_outcome(phone(801), "completed")  # ...which connects
    talkstack_sim.script_outcome(phone(802), "voicemail")
    worker_factory(rt)
    server = _serve_webhooks(app, rt, talkstack_sim)
    try:
        batch_id = create_batch(rt, {"listId": hubspot_sim.add_list(ids)})
        wait_for(lambda: batch_state(rt, batch_id) == "done", timeout=30, message="batch done")
    finally:
        server.stop()
    with rt.db.session() as session:
        rows = session.execute(select(BatchRow.contact_id, BatchRow.state, Call.status,
                                      Call.outcome, Call.attempt, Call.match)
                               .join(Call, Call.id == BatchRow.call_id)
                               .where(BatchRow.batch_id == batch_id)
                               .order_by(BatchRow.position)).all()
    assert [tuple(r) for r in rows] == [
        (ids[0], "done", "completed", "Connected", 1, "variable"),
        (ids[1], "done", "completed", "Connected", 2, "request"),  # the follow-up call
        (ids[2], "done", "voicemail", "Left voicemail", 1, "variable")]
    assert [r.json["number"] for r in talkstack_sim.requests_to("/call/makeCall")] == [
        phone(801)]
    wait_for(lambda: len(hubspot_sim.calls) == 4, message="one engagement per call")


def test_rows_without_a_webhook_are_found_in_call_history(make_app, hubspot_sim,
                                                         talkstack_sim, worker_factory):
    app = make_app(TALKSTACK_AGENT_ID=AGENT, RECONCILE_AFTER_SECONDS=1)
    rt = app.extensions["connector"]
    ids = seed(hubspot_sim, [{"phone": phone(900)}, {"phone": phone(901)}])
    talkstack_sim.script_outcome(phone(900), "voicemail")
    talkstack_sim.script_outcome(phone(901), "completed")
    assert talkstack_sim.webhook_url is None  # no webhook will ever come
    worker_factory(rt)
    batch_id = create_batch(rt, {"contactIds": ids})
    wait_for(lambda: batch_state(rt, batch_id) == "done", timeout=30, message="batch done")
    with rt.db.session() as session:
        found = session.execute(select(Call.match, Call.status).join(
            BatchRow, BatchRow.call_id == Call.id).where(BatchRow.batch_id == batch_id)
            .order_by(BatchRow.position)).all()
    assert [tuple(r) for r in found] == [("batch", "voicemail"), ("batch", "completed")]
    # One "latest calls" request found both; no per-number lookups were needed.
    lookups = talkstack_sim.requests_to("/call/get-call-history")
    assert len(lookups) == 1 and "to" not in lookups[0].query


def test_rows_dialled_before_the_latest_page_are_found_by_number(
        make_app, hubspot_sim, talkstack_sim, worker_factory):
    rt = make_app(TALKSTACK_AGENT_ID=AGENT, RECONCILE_AFTER_SECONDS=1).extensions["connector"]
    ids = seed(hubspot_sim, [{"phone": phone(910)}, {"phone": phone(911)}])
    talkstack_sim.script_outcome(phone(910), "completed")
    talkstack_sim.script_outcome(phone(911), "voicemail")
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    run_batch(rt, batch_id)
    agent = talkstack_sim.calling_agent(AGENT)
    for n in range(100):  # newer calls push the batch's calls off the "latest" page
        talkstack_sim.place_call(f"+1650555{n:04d}", agent, {})
    worker_factory(rt)
    wait_for(lambda: batch_state(rt, batch_id) == "done", timeout=30, message="batch done")
    by_number = [r.query.get("to") for r in talkstack_sim.requests_to("/call/get-call-history")]
    assert {phone(910), phone(911)} <= set(by_number)


@pytest.fixture
def worker_factory():
    from jobs.worker import Worker

    started = []

    def start(rt):
        running = Worker(rt, threads=4, sweep_interval=0.5)
        running.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def test_quiet_hours_rows_are_deferred_to_a_call_request_not_put_in_the_file(
        make_app, hubspot_sim, talkstack_sim, tmp_path):
    from store.models import CallRequest

    now = utcnow()
    window = [(now + timedelta(hours=h)).strftime("%H:%M") for h in (3.5, 4.5)]
    rules = tmp_path / "rules.toml"
    rules.write_text(f'[quiet_hours]\nstart = "{window[0]}"\nend = "{window[1]}"\n'
                     'default_timezone = "UTC"\n')
    rt = make_app(TALKSTACK_AGENT_ID=AGENT, CONNECTOR_CONFIG=str(rules)).extensions["connector"]
    # Dubai (UTC+4, no DST) is inside the window now; UTC is not.
    ids = seed(hubspot_sim, [{"phone": phone(950), "hs_timezone": "Asia/Dubai"},
                             {"phone": phone(951), "hs_timezone": "UTC"}])
    batch_id = create_batch(rt, {"contactIds": ids}, enqueue=False)
    run_batch(rt, batch_id)
    rows = rows_of(rt, batch_id)
    assert [(r.state, r.reason, r.file_index) for r in rows] == [
        ("uploaded", None, 1), ("queued", "quiet_hours", None)]
    assert phone(951).encode() not in talkstack_sim.batches[0].content
    with rt.db.session() as session:
        request = session.scalar(select(CallRequest).where(CallRequest.batch_row_id
                                                           == rows[1].id))
        assert (request.trigger, request.contact_id) == ("batch", ids[1])
        request.state, request.reason = "skipped", "opted_out"  # what the dispatcher may decide
        session.execute(update(Batch).where(Batch.id == batch_id).values(not_before=None))
    run_batch(rt, batch_id)
    assert [(r.state, r.reason) for r in rows_of(rt, batch_id)][1] == ("skipped", "opted_out")

"""Build a batch: source ids → contact reads (100 at a time) → calling policy → rows → files.

Streaming: only one chunk of contacts and one unfinished file are in memory at a time; rows
are committed chunk by chunk and each finished file is stored as soon as it is full. A
build that dies half-way is redone from scratch: nothing was uploaded yet, so deleting the
partial rows and files loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select

import metrics
from domain import policy
from domain.batch_files import BatchFileWriter
from domain.rules import build_dynamic_variables
from jobs.batch_source import id_chunks, source_id_pages
from jobs.calls import _last_call_times, policy_settings, variable_properties
from jobs.outbox import contact_update
from store.clock import utcnow
from store.models import Batch, BatchFile, BatchRow

log = logging.getLogger(__name__)

CONTACT_NOT_FOUND = "contact_not_found"  # an id HubSpot does not know (not a §5 policy skip)
INVALID_VARIABLES = "invalid_variables"  # the row's variables cannot be written to the file
SKIP_WRITE = "talkstack_last_skip_reason"


@dataclass
class BuildResult:
    rows: int = 0
    callable: int = 0
    deferred: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    files: int = 0


@dataclass
class _Build:
    """What one build needs, fixed for its duration."""

    batch_id: int
    dry_run: bool
    settings: policy.PolicySettings
    properties: list[str]
    call_variables: list[str]
    renames: dict
    writer: BatchFileWriter
    numbers_taken: set = field(default_factory=set)
    result: BuildResult = field(default_factory=BuildResult)


def clear_build(session, batch_id: int) -> None:
    session.execute(delete(BatchRow).where(BatchRow.batch_id == batch_id))
    session.execute(delete(BatchFile).where(BatchFile.batch_id == batch_id))


def build_batch(rt, batch_id: int, lease) -> BuildResult:
    """Rebuild the batch's rows and files. `lease.check(session)` fences every commit."""
    with rt.db.session() as session:
        batch = session.get(Batch, batch_id)
        source, fmt, dry_run = dict(batch.source), batch.format, batch.dry_run
        lease.check(session)
        clear_build(session, batch_id)
        batch.state, batch.last_error = "building", None
    settings = policy_settings(rt)
    with BatchFileWriter(fmt, rt.settings.batch_max_rows, basename=f"batch-{batch_id}") as writer:
        build = _Build(batch_id=batch_id, dry_run=dry_run, settings=settings,
                       properties=policy.properties_to_read(settings, variable_properties(rt)),
                       call_variables=list(rt.settings.call_variables),
                       renames=dict(rt.rules.variables), writer=writer)
        for ids in id_chunks(source_id_pages(rt.hubspot, source)):
            contacts = rt.hubspot.read_contacts(ids, build.properties)
            with rt.db.session() as session:
                lease.check(session)
                _build_chunk(session, build, ids, contacts)
        last = writer.finish()
        if last is not None:
            with rt.db.session() as session:
                lease.check(session)
                _store_file(session, build, last)
    return build.result


def _build_chunk(session, build: _Build, ids: list[str], contacts: dict) -> None:
    now = utcnow()
    last_calls = _last_call_times(session, ids)
    rows = []
    for contact_id in ids:
        rows.append(_row_for(session, build, contact_id, contacts.get(contact_id),
                             last_calls.get(contact_id), now))
    session.execute(insert(BatchRow), rows)


def _row_for(session, build: _Build, contact_id: str, properties, last_called_at, now) -> dict:
    result = build.result
    row = {"batch_id": build.batch_id, "position": result.rows, "contact_id": contact_id,
           "number": None, "state": "skipped", "reason": None, "file_index": None}
    result.rows += 1
    if properties is None:
        return _skipped(session, build, row, CONTACT_NOT_FOUND, write_contact=False)
    decision = policy.decide(properties, build.settings, now=now, attempts_so_far=0,
                             last_called_at=last_called_at, numbers_taken=build.numbers_taken)
    row["number"] = decision.number
    if decision.skip_reason:
        return _skipped(session, build, row, decision.skip_reason)
    if decision.defer_until is not None:
        # Quiet hours: not in the file; a deferred call request dials it later (see batches).
        result.deferred += 1
        _write_skip_reason(session, build, contact_id, policy.QUIET_HOURS)
        return {**row, "state": "queued", "reason": policy.QUIET_HOURS}
    variables = build_dynamic_variables(contact_id, properties, build.call_variables,
                                        build.renames)
    file_index = result.callable // build.writer.max_rows + 1
    try:
        finished = build.writer.add(decision.number, variables)
    except (ValueError, TypeError) as exc:
        log.warning("batch %s: contact %s left out of the file: %s", build.batch_id,
                    contact_id, exc)
        return _skipped(session, build, row, INVALID_VARIABLES, write_contact=False)
    result.callable += 1
    if finished is not None:
        _store_file(session, build, finished)
    return {**row, "state": "queued", "file_index": file_index}


def _skipped(session, build: _Build, row: dict, reason: str, *, write_contact=True) -> dict:
    build.result.skipped[reason] = build.result.skipped.get(reason, 0) + 1
    if not build.dry_run:
        metrics.CALLS_SKIPPED.labels(reason).inc()
    if write_contact:
        _write_skip_reason(session, build, row["contact_id"], reason)
    return {**row, "state": "skipped", "reason": reason}


def _write_skip_reason(session, build: _Build, contact_id: str, reason: str) -> None:
    # A dry run changes nothing in HubSpot. A rebuilt batch may queue the same value twice,
    # which is harmless (same property, same value).
    if not build.dry_run:
        contact_update(session, contact_id, {SKIP_WRITE: reason})


def _store_file(session, build: _Build, finished) -> None:
    session.add(BatchFile(batch_id=build.batch_id, index=finished.index, rows=finished.rows,
                          filename=finished.filename, content_type=finished.content_type,
                          content=finished.content))
    build.result.files += 1


def file_rows(session, batch_id: int, file_index: int) -> list[int]:
    """Row ids of one file in file order (data row k of the file = element k)."""
    return list(session.scalars(select(BatchRow.id).where(
        BatchRow.batch_id == batch_id, BatchRow.file_index == file_index)
        .order_by(BatchRow.position)))

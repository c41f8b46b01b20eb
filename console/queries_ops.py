"""Database reads for batches, inbound events and dead letters."""

from __future__ import annotations

from sqlalchemy import func, select

from console.queries import EVENT_FIELDS, PAGE_SIZE, as_dict
from store.models import (
    Batch,
    BatchFile,
    BatchRow,
    Call,
    CallRequest,
    DeadLetter,
    HubSpotWrite,
    InboundEvent,
)

ROW_STATES = ("skipped", "queued", "uploaded", "done", "failed")
FINISHED_ROW_STATES = ("skipped", "done", "failed")
BATCH_FIELDS = ("id", "created_at", "updated_at", "source", "agent_id", "format", "dry_run",
                "state", "attempts", "last_error")
FILE_FIELDS = ("index", "rows", "filename", "content_type", "uploaded_at")
ROWS_SHOWN = 200
RAW_BODY_SHOWN = 20_000
EVENT_SOURCES = ("hubspot_app", "hubspot_workflow", "hubspot_action", "talkstack")
EVENT_STATES = ("pending", "processing", "done", "ignored", "unmatched", "dead")


def describe_source(source: dict | None) -> str:
    source = source or {}
    if source.get("listId") is not None:
        return f"list {source['listId']}"
    if source.get("contactIds") is not None:
        return f"{len(source['contactIds'])} contact ids"
    if source.get("filter") is not None:
        return "search filter"
    return "unknown"


def _progress(counts: dict[str, int]) -> dict:
    total = sum(counts.values())
    finished = sum(counts.get(state, 0) for state in FINISHED_ROW_STATES)
    return {"total": total, "finished": finished,
            "percent": round(100 * finished / total) if total else 0}


def recent_batches(session, limit: int = PAGE_SIZE) -> list[dict]:
    batches = list(session.scalars(select(Batch).order_by(Batch.id.desc()).limit(limit)))
    ids = [b.id for b in batches]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    files: dict[int, int] = {}
    if ids:
        for batch_id, state, count in session.execute(
                select(BatchRow.batch_id, BatchRow.state, func.count())
                .where(BatchRow.batch_id.in_(ids)).group_by(BatchRow.batch_id, BatchRow.state)):
            counts[batch_id][state] = count
        files = dict(session.execute(select(BatchFile.batch_id, func.count())
                                     .where(BatchFile.batch_id.in_(ids))
                                     .group_by(BatchFile.batch_id)).all())
    return [{**as_dict(b, BATCH_FIELDS), "source_text": describe_source(b.source),
             "counts": counts[b.id], "progress": _progress(counts[b.id]),
             "files": files.get(b.id, 0)} for b in batches]


def batch_detail(session, batch_id: int) -> dict | None:
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    counts = dict(session.execute(select(BatchRow.state, func.count())
                                  .where(BatchRow.batch_id == batch_id)
                                  .group_by(BatchRow.state)).all())
    reasons = dict(session.execute(select(BatchRow.reason, func.count())
                                   .where(BatchRow.batch_id == batch_id,
                                          BatchRow.reason.is_not(None))
                                   .group_by(BatchRow.reason)).all())
    files = session.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id)
                            .order_by(BatchFile.index))
    rows = session.execute(
        select(BatchRow, Call.id, Call.talkstack_call_id, Call.status, Call.outcome)
        .outerjoin(Call, Call.id == BatchRow.call_id)
        .where(BatchRow.batch_id == batch_id).order_by(BatchRow.position).limit(ROWS_SHOWN))
    return {
        "batch": {**as_dict(batch, BATCH_FIELDS), "source_text": describe_source(batch.source)},
        "counts": counts, "progress": _progress(counts), "reasons": reasons,
        "files": [as_dict(f, FILE_FIELDS) for f in files],
        "rows": [{"position": row.position, "contact_id": row.contact_id, "number": row.number,
                  "state": row.state, "reason": row.reason, "file_index": row.file_index,
                  "call_id": call_id, "talkstack_call_id": sid, "status": status,
                  "outcome": outcome} for row, call_id, sid, status, outcome in rows],
        "rows_shown": ROWS_SHOWN,
    }


def batch_file(session, batch_id: int, index: int) -> BatchFile | None:
    return session.scalar(select(BatchFile).where(BatchFile.batch_id == batch_id,
                                                  BatchFile.index == index))


def recent_events(session, *, source: str | None = None, state: str | None = None,
                  before: int | None = None, limit: int = PAGE_SIZE) -> list[dict]:
    columns = [getattr(InboundEvent, name) for name in EVENT_FIELDS if name != "payload"]
    query = select(*columns).order_by(InboundEvent.id.desc()).limit(limit)
    if source:
        query = query.where(InboundEvent.source == source)
    if state:
        query = query.where(InboundEvent.state == state)
    if before is not None:
        query = query.where(InboundEvent.id < before)
    return [dict(row._mapping) for row in session.execute(query)]


def event_detail(session, event_id: int) -> dict | None:
    event = session.get(InboundEvent, event_id)
    if event is None:
        return None
    raw = bytes(event.raw_body or b"")
    requests = session.scalars(select(CallRequest.id).where(
        CallRequest.inbound_event_id == event_id))
    return {**as_dict(event, EVENT_FIELDS),
            "raw_text": raw[:RAW_BODY_SHOWN].decode("utf-8", errors="replace"),
            "raw_truncated": len(raw) > RAW_BODY_SHOWN, "request_ids": list(requests)}


def dead_letters(session, *, replayed: bool, limit: int = PAGE_SIZE) -> list[dict]:
    condition = DeadLetter.replayed_at.is_not(None) if replayed else \
        DeadLetter.replayed_at.is_(None)
    order = DeadLetter.replayed_at.desc() if replayed else DeadLetter.id
    letters = list(session.scalars(select(DeadLetter).where(condition).order_by(order)
                                   .limit(limit)))
    write_requests = _write_links(session, [d.ref_id for d in letters if d.kind == "write"])
    return [{"id": d.id, "kind": d.kind, "ref_id": d.ref_id, "reason": d.reason,
             "attempts": d.attempts, "created_at": d.created_at, "replayed_at": d.replayed_at,
             "link": _letter_link(d, write_requests)} for d in letters]


def _write_links(session, write_ids: list[int]) -> dict[int, tuple]:
    if not write_ids:
        return {}
    rows = session.execute(select(HubSpotWrite.id, HubSpotWrite.call_request_id,
                                  HubSpotWrite.call_id).where(HubSpotWrite.id.in_(write_ids)))
    return {write_id: (request_id, call_id) for write_id, request_id, call_id in rows}


def _letter_link(letter: DeadLetter, write_requests: dict) -> tuple[str, dict] | None:
    """(endpoint, args) of the page that explains this dead work."""
    if letter.kind == "request":
        return "console.call_trace", {"request_id": letter.ref_id}
    if letter.kind == "event":
        return "console.event_detail", {"event_id": letter.ref_id}
    if letter.kind == "call":
        return "console.talkstack_call", {"call_id": letter.ref_id}
    if letter.kind == "batch":
        return "console.batch_detail", {"batch_id": letter.ref_id}
    request_id, call_id = write_requests.get(letter.ref_id, (None, None))
    if request_id is not None:
        return "console.call_trace", {"request_id": request_id}
    if call_id is not None:
        return "console.talkstack_call", {"call_id": call_id}
    return None

"""Upload a built batch's files to Talkstack, each exactly once.

Re-sending a file that Talkstack already saw would dial every row in it twice, so a file's
`uploaded_at` is the idempotency record, and `upload_response` is set to a "sending" marker
(committed) before the request leaves. A marker found later means a worker died mid-upload:
the file is then treated as possibly dialled — recorded as uploaded, never sent again — and
its rows are found (or not) in Talkstack's call history by the settle pass.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from integrations.errors import AmbiguousCallError
from jobs.batch_build import file_rows
from store.clock import utcnow
from store.models import BatchFile, BatchRow

log = logging.getLogger(__name__)

SENDING = "sending"
AMBIGUOUS = "ambiguous"
REJECTED = "rejected"  # a row Talkstack refused when it read the file


def unsent_file_ids(rt, batch_id: int) -> list[int]:
    with rt.db.session() as session:
        return list(session.scalars(select(BatchFile.id).where(
            BatchFile.batch_id == batch_id, BatchFile.uploaded_at.is_(None))
            .order_by(BatchFile.index)))


def any_file_sent(session, batch_id: int) -> bool:
    """True once any file may have reached Talkstack (then the build must never be redone)."""
    files = session.execute(select(BatchFile.uploaded_at, BatchFile.upload_response)
                            .where(BatchFile.batch_id == batch_id)).all()
    return any(uploaded is not None or response for uploaded, response in files)


def upload_file(rt, file_id: int, agent_id: str, lease) -> None:
    """Send one file. Transient and permanent errors propagate (marker cleared first)."""
    with rt.db.session() as session:
        lease.check(session)
        file = session.get(BatchFile, file_id)
        if file.uploaded_at is not None:
            return
        if (file.upload_response or {}).get("state") == SENDING:
            log.warning("batch %s file %s: an earlier upload was interrupted; not re-sending",
                        file.batch_id, file.index)
            _mark_uploaded(session, file, {"state": AMBIGUOUS, "reason": "upload interrupted"})
            return
        file.upload_response = {"state": SENDING, "startedAt": utcnow().isoformat()}
        filename, content, content_type = file.filename, file.content, file.content_type
    try:
        body = rt.talkstack.upload_batch(agent_id, filename, content, content_type)
    except AmbiguousCallError as exc:
        log.warning("file %s: upload may have been accepted (%s); not re-sending", file_id, exc)
        body = {"state": AMBIGUOUS, "reason": str(exc)[:500]}
    except Exception:
        with rt.db.session() as session:
            session.get(BatchFile, file_id).upload_response = None
        raise
    # Recorded even if our lease ran out meanwhile: the upload happened either way.
    with rt.db.session() as session:
        file = session.get(BatchFile, file_id)
        if file.uploaded_at is None:
            _mark_uploaded(session, file, body)


def _mark_uploaded(session, file: BatchFile, response: dict) -> None:
    now = utcnow()
    file.uploaded_at, file.upload_response = now, response
    session.execute(update(BatchRow).where(
        BatchRow.batch_id == file.batch_id, BatchRow.file_index == file.index,
        BatchRow.state == "queued").values(state="uploaded", uploaded_at=now))
    rejected = _rejected_lines(response)
    if rejected:
        row_ids = file_rows(session, file.batch_id, file.index)
        ids = [row_ids[line - 1] for line in rejected if 0 < line <= len(row_ids)]
        session.execute(update(BatchRow).where(BatchRow.id.in_(ids))
                        .values(state="failed", reason=REJECTED))


def _rejected_lines(response: dict) -> list[int]:
    """1-based data rows Talkstack says it refused (the response shape is undocumented:
    accept `rejected` at the top level or under `data`, as numbers or {"row": n})."""
    data = response.get("data") if isinstance(response.get("data"), dict) else response
    lines = []
    for item in (data.get("rejected") or []) if isinstance(data, dict) else []:
        value = item.get("row") if isinstance(item, dict) else item
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            lines.append(int(value))
    return lines

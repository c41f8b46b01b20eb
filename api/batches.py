"""POST /api/batches, GET /api/batches/<id> and the files each batch uploaded."""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import func, select

from api import bp
from api.calls import json_body, runtime
from api.schemas import BatchCreateSchema, load_body
from errors import ApiError
from jobs.batches import create_batch
from store.models import Batch, BatchFile, BatchRow, Call

ROW_STATES = ("skipped", "queued", "uploaded", "done", "failed")
DEFAULT_ROW_LIMIT = 1000
MAX_ROW_LIMIT = 10_000
MAX_DB_INT = 2**63 - 1  # larger path ids cannot exist (and would overflow the driver)
TOTAL_ROWS_HEADER = "X-Total-Rows"  # rows are paged; the total rides in a header


def source_from(body: dict) -> dict:
    if body["listId"] is not None:
        return {"listId": body["listId"]}
    if body["contactIds"] is not None:
        return {"contactIds": list(body["contactIds"])}
    return {"filter": {"filterGroups": body["filter"]["filterGroups"]}}


@bp.post("/batches")
def create_batch_route():
    body = load_body(BatchCreateSchema(), json_body())
    batch_id = create_batch(runtime(), source_from(body), agent_id=body["agentId"],
                            fmt=body["format"])
    return jsonify({"id": batch_id}), 202


def _paging() -> tuple[int, int]:
    limit = _int_arg("limit", DEFAULT_ROW_LIMIT)
    offset = _int_arg("offset", 0)
    if not 0 <= limit <= MAX_ROW_LIMIT:
        raise ApiError(400, "invalid_query", f"limit must be between 0 and {MAX_ROW_LIMIT}")
    return limit, offset


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > MAX_DB_INT:
        raise ApiError(400, "invalid_query", f"{name} must be a non-negative integer")
    return int(raw)


def _batch_or_404(session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id) if batch_id <= MAX_DB_INT else None
    if batch is None:
        raise ApiError(404, "not_found", f"no batch {batch_id}")
    return batch


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def batch_view(session, batch: Batch, limit: int, offset: int) -> dict:
    files = session.execute(select(BatchFile.index, BatchFile.rows, BatchFile.uploaded_at)
                            .where(BatchFile.batch_id == batch.id)
                            .order_by(BatchFile.index)).all()
    counts = dict(session.execute(select(BatchRow.state, func.count(BatchRow.id))
                                  .where(BatchRow.batch_id == batch.id)
                                  .group_by(BatchRow.state)).all())
    rows = session.execute(
        select(BatchRow.contact_id, BatchRow.number, BatchRow.state, BatchRow.reason,
               Call.talkstack_call_id, Call.status, Call.outcome)
        .outerjoin(Call, Call.id == BatchRow.call_id)
        .where(BatchRow.batch_id == batch.id)
        .order_by(BatchRow.position).limit(limit).offset(offset)).all()
    return {
        "id": batch.id,
        "state": batch.state,
        "source": batch.source,
        "files": [{"index": index, "rows": n, "uploadedAt": _iso(uploaded)}
                  for index, n, uploaded in files],
        "counts": {state: counts.get(state, 0) for state in ROW_STATES},
        "rows": [{"contactId": contact_id, "number": number, "state": state, "reason": reason,
                  "talkstackCallId": call_id, "status": status, "outcome": outcome}
                 for contact_id, number, state, reason, call_id, status, outcome in rows],
    }


@bp.get("/batches/<int:batch_id>")
def get_batch(batch_id: int):
    limit, offset = _paging()
    with runtime().db.session() as session:
        batch = _batch_or_404(session, batch_id)
        view = batch_view(session, batch, limit, offset)
    response = jsonify(view)
    response.headers[TOTAL_ROWS_HEADER] = str(sum(view["counts"].values()))
    return response


@bp.get("/batches/<int:batch_id>/file")
@bp.get("/batches/<int:batch_id>/files/<int:index>")
def get_batch_file(batch_id: int, index: int = 1):
    with runtime().db.session() as session:
        _batch_or_404(session, batch_id)
        file = session.scalar(select(BatchFile).where(
            BatchFile.batch_id == batch_id, BatchFile.index == min(index, MAX_DB_INT)))
        if file is None:
            raise ApiError(404, "not_found", f"batch {batch_id} has no file {index}")
        content, content_type, filename = file.content, file.content_type, file.filename
    response = Response(content, mimetype=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- OpenAPI (merged into /api/openapi.json by api.openapi) ----------------------------------

_NULLABLE_STRING = {"type": "string", "nullable": True}
BATCH_VIEW = {
    "type": "object",
    "required": ["id", "state", "source", "files", "counts", "rows"],
    "properties": {
        "id": {"type": "integer"},
        "state": {"type": "string",
                  "enum": ["pending", "building", "uploading", "uploaded", "done", "failed",
                           "dead"]},
        "source": {"type": "object", "description": "listId, contactIds or filter, as posted"},
        "files": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer", "description": "1-based"},
            "rows": {"type": "integer"},
            "uploadedAt": {**_NULLABLE_STRING, "format": "date-time"}}}},
        "counts": {"type": "object", "description": "rows per state",
                   "properties": {state: {"type": "integer"} for state in ROW_STATES}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "contactId": {"type": "string"},
            "number": {**_NULLABLE_STRING, "description": "E.164"},
            "state": {"type": "string", "enum": list(ROW_STATES)},
            "reason": {**_NULLABLE_STRING, "description": "skip reason code (SPEC §5)"},
            "talkstackCallId": _NULLABLE_STRING,
            "status": _NULLABLE_STRING,
            "outcome": _NULLABLE_STRING}}},
    },
}


def _id_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 1}}


def _errors(*statuses: str) -> dict:
    return {status: {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
        for status, text in (("400", "Invalid body or query"),
                             ("401", "Missing or wrong bearer token"),
                             ("404", "No such batch or file"), ("413", "Body over 1 MiB"))
        if status in statuses}


def _file_operation(summary: str, parameters: list) -> dict:
    return {"get": {
        "summary": summary, "security": [{"bearer": []}], "parameters": parameters,
        "responses": {"200": {"description": "The file, byte for byte", "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}}}},
            **_errors("401", "404")}}}


def batch_paths() -> dict:
    """OpenAPI path items for the batch routes, keyed by path."""
    batch_id = _id_param("id", "batch id")
    return {
        "/api/batches": {"post": {
            "summary": "Call every contact of a list, an id set or a search (policy applies)",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/BatchCreate"}}}},
            "responses": {"202": {"description": "Accepted", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"id": {"type": "integer"}},
                           "required": ["id"]}}}},
                **_errors("400", "401", "413")}}},
        "/api/batches/{id}": {"get": {
            "summary": "Progress, per-row state and skip reasons, outcome per row",
            "security": [{"bearer": []}],
            "parameters": [batch_id,
                           {"name": "limit", "in": "query", "schema": {
                               "type": "integer", "minimum": 0, "maximum": MAX_ROW_LIMIT,
                               "default": DEFAULT_ROW_LIMIT}},
                           {"name": "offset", "in": "query", "schema": {
                               "type": "integer", "minimum": 0, "default": 0}}],
            "responses": {"200": {
                "description": f"The batch; the total row count is in {TOTAL_ROWS_HEADER}",
                "headers": {TOTAL_ROWS_HEADER: {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": BATCH_VIEW}}},
                **_errors("400", "401", "404")}}},
        "/api/batches/{id}/file": _file_operation("The first uploaded file", [batch_id]),
        "/api/batches/{id}/files/{n}": _file_operation(
            "Uploaded file n (1-based)", [batch_id, _id_param("n", "file number, 1-based")]),
    }

"""Batches: progress, counts, skip reasons, rows, and the exact files uploaded."""

from __future__ import annotations

import io

from flask import abort, render_template, send_file

from console import bp, queries_ops, runtime
from console.views_calls import parse_id


@bp.get("/batches")
def batches():
    with runtime().db.session() as session:
        rows = queries_ops.recent_batches(session)
    return render_template("console/batches.html", batches=rows)


@bp.get("/batches/<batch_id>")
def batch_detail(batch_id: str):
    number = parse_id(batch_id, "batch")
    with runtime().db.session() as session:
        detail = queries_ops.batch_detail(session, number)
    if detail is None:
        abort(404, description=f"no batch {number}")
    return render_template("console/batch.html", **detail)


@bp.get("/batches/<batch_id>/files/<index>")
def batch_file(batch_id: str, index: str):
    """The bytes uploaded as file `index` (1-based), behind the console login rather than
    the API's bearer token."""
    number, file_index = parse_id(batch_id, "batch"), parse_id(index, "batch file")
    with runtime().db.session() as session:
        stored = queries_ops.batch_file(session, number, file_index)
        if stored is None:
            abort(404, description=f"batch {number} has no file {file_index}")
        content, mimetype, filename = bytes(stored.content), stored.content_type, stored.filename
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=filename or f"batch-{number}-{file_index}")

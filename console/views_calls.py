"""Recent calls and the per-call trace."""

from __future__ import annotations

from flask import abort, render_template, request

from console import bp, queries, runtime

MAX_ID_DIGITS = 18  # larger ids cannot exist and would overflow the database integer


def parse_id(raw: str | None, what: str = "record") -> int:
    """A path or query id; anything that is not a plausible id is a 404, never a 500."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > MAX_ID_DIGITS:
        abort(404, description=f"no {what} {text[:40]!r}")
    return int(text)


def optional_id(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) <= MAX_ID_DIGITS else None


@bp.get("/")
def index():
    before = optional_id("before")
    with runtime().db.session() as session:
        rows = queries.recent_requests(session, before=before)
        counts = queries.request_counts(session)
        others = queries.unrequested_calls(session) if before is None else []
    older = rows[-1]["id"] if len(rows) == queries.PAGE_SIZE else None
    return render_template("console/calls.html", rows=rows, counts=counts, others=others,
                           older=older)


@bp.get("/calls/<request_id>")
def call_trace(request_id: str):
    number = parse_id(request_id, "call request")
    with runtime().db.session() as session:
        trace = queries.request_trace(session, number)
    if trace is None:
        abort(404, description=f"no call request {number}")
    return render_template("console/call_trace.html", **trace)


@bp.get("/talkstack-calls/<call_id>")
def talkstack_call(call_id: str):
    number = parse_id(call_id, "Talkstack call")
    with runtime().db.session() as session:
        trace = queries.call_trace(session, number)
    if trace is None:
        abort(404, description=f"no Talkstack call {number}")
    return render_template("console/talkstack_call.html", **trace)

"""Inbound events and dead letters (with replay)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from console import bp, queries_ops, runtime
from console.views_calls import optional_id, parse_id


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    return value if value in allowed else None


@bp.get("/events")
def events():
    source = _choice("source", queries_ops.EVENT_SOURCES)
    state = _choice("state", queries_ops.EVENT_STATES)
    with runtime().db.session() as session:
        rows = queries_ops.recent_events(session, source=source, state=state,
                                         before=optional_id("before"))
    older = rows[-1]["id"] if len(rows) == queries_ops.PAGE_SIZE else None
    return render_template("console/events.html", events=rows, source=source, state=state,
                           sources=queries_ops.EVENT_SOURCES, states=queries_ops.EVENT_STATES,
                           older=older)


@bp.get("/events/<event_id>")
def event_detail(event_id: str):
    number = parse_id(event_id, "inbound event")
    with runtime().db.session() as session:
        event = queries_ops.event_detail(session, number)
    if event is None:
        abort(404, description=f"no inbound event {number}")
    return render_template("console/event.html", event=event)


@bp.get("/dead-letters")
def dead_letters():
    with runtime().db.session() as session:
        open_letters = queries_ops.dead_letters(session, replayed=False)
        replayed = queries_ops.dead_letters(session, replayed=True, limit=20)
    return render_template("console/dead_letters.html", letters=open_letters,
                           replayed=replayed)


@bp.post("/dead-letters/<letter_id>/replay")
def replay_letter(letter_id: str):
    from jobs.deadletters import replay

    number = parse_id(letter_id, "dead letter")
    if not replay(runtime(), number):
        abort(404, description=f"no open dead letter {number}")
    flash(f"Dead letter {number} replayed: its work is queued again.", "ok")
    return redirect(url_for("console.dead_letters"), code=303)

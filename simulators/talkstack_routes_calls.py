"""Call endpoints of the Talkstack simulator: makeCall, Get call data, history, analysis."""

from __future__ import annotations

from datetime import UTC, date
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from flask import Flask, jsonify, request

from simulators.talkstack_calls import E164, FINAL_STATUSES, analysis_answers
from simulators.talkstack_control import body, error, missing, wrong_project

if TYPE_CHECKING:
    from simulators.talkstack import TalkstackSimulator

QUESTION_TYPES = frozenset({"boolean", "text", "number", "selector"})
DEFAULT_PAGE_SIZE = 20


def register_call_routes(app: Flask, sim: TalkstackSimulator) -> None:
    @app.post("/call/makeCall")
    def make_call():
        data = body()
        if bad := missing(data, "number", "projectId", "agentId") or wrong_project(
            sim, data["projectId"]
        ):
            return bad
        variables = data.get("dynamicVariables") or {}
        if not isinstance(variables, dict):
            return error(400, "dynamicVariables must be an object")
        if not E164.match(str(data["number"])):
            return error(400, "number must be in E.164 format, e.g. +14155550100")
        agent = sim.calling_agent(data["agentId"])
        if agent is None:
            known = ", ".join(a["id"] for a in sim.agents) or "none"
            return error(400, f"agent {data['agentId']!r} not found (known: {known})")
        call = sim.place_call(data["number"], agent, variables)
        return jsonify(
            {
                "message": "call made successfully.",
                "status": "success",
                "call": {"call_id": call.sid, "to": call.number, "from": call.from_number},
            }
        )

    @app.post("/call")
    def call_data():
        data = body()
        sid = data.get("sid") or data.get("callSid")
        if not sid:
            return error(400, "callSid is missing")
        if sid not in sim.calls or data.get("projectId", sim.project_id) != sim.project_id:
            return error(404, f"no call found with callSid {sid}")
        return jsonify(sim.record_of(sid))  # bare object, as documented

    @app.post("/call/get-call-history")
    def call_history():
        data = body()
        if bad := missing(data, "projectId") or wrong_project(sim, data["projectId"]):
            return bad
        try:
            page_size = int(data.get("pageSize") or DEFAULT_PAGE_SIZE)
            keep = _history_filter(request.args)
        except ValueError as exc:
            return error(400, f"bad filter: {exc}")
        calls = sorted(sim.call_list(), key=lambda c: c.created_at, reverse=True)
        records = [r for r in (sim.record_of(c.sid) for c in calls) if keep(r)]
        return jsonify(
            {
                "message": "successfully fetched call history.",
                "status": "success",
                "data": records[:page_size],
            }
        )

    @app.post("/call/analysis")
    def call_analysis():
        data = body()
        if bad := missing(data, "sid", "questions"):
            return bad
        questions = data["questions"]
        if not isinstance(questions, list) or not all(_valid_question(q) for q in questions):
            return error(400, "questions must be a list of {question, type[, options]}")
        if data["sid"] not in sim.calls:
            return error(404, f"no call found with callSid {data['sid']}")
        if sim.status_of(data["sid"]) not in FINAL_STATUSES:
            return error(400, "call analysis is only available after the call ends")
        answers = analysis_answers(sim.calls[data["sid"]], questions, sim.seed)
        return jsonify(
            {"message": "successfully fetched call analysis.", "status": "success", "data": answers}
        )


def _valid_question(question: object) -> bool:
    return (
        isinstance(question, dict)
        and isinstance(question.get("question"), str)
        and str(question.get("type", "")).lower() in QUESTION_TYPES
    )


def _history_filter(args):
    """A predicate over rendered records from to/from/status/startTime* query parameters."""
    to, from_, status = args.get("to"), args.get("from"), args.get("status")
    on, after, before = (
        _day(args.get(k)) for k in ("startTime", "startTimeAfter", "startTimeBefore")
    )

    def keep(record: dict) -> bool:
        started = _record_day(record)
        return (
            (not to or record["to"] == to)
            and (not from_ or record["from"] == from_)
            and (not status or record["status"] == status)
            and (on is None or started == on)
            and (after is None or started >= after)
            and (before is None or started <= before)
        )

    return keep


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _record_day(record: dict) -> date:
    return parsedate_to_datetime(record["date"]).astimezone(UTC).date()

"""The Talkstack endpoints the connector uses, in the documented shapes and quirks
(reference §3): bare vs enveloped bodies, POST reads, a success that says "error"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from simulators.talkstack_agents import PUBLIC_AGENT_FIELDS, VOICES
from simulators.talkstack_batch import BatchFileError, parse_batch_file
from simulators.talkstack_control import (
    body,
    error,
    install_control,
    install_hooks,
    missing,
    wrong_project,
)
from simulators.talkstack_routes_calls import register_call_routes

if TYPE_CHECKING:
    from simulators.talkstack import TalkstackSimulator


def build_app(sim: TalkstackSimulator) -> Flask:
    app = Flask("talkstack_simulator")
    app.json.sort_keys = False
    install_hooks(app, sim)
    install_control(app, sim)
    _register_auth(app, sim)
    register_call_routes(app, sim)
    _register_project(app, sim)
    _register_batch(app, sim)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    return app


def _register_auth(app: Flask, sim: TalkstackSimulator) -> None:
    @app.post("/auth/login")
    def login():
        data = body()
        if bad := missing(data, "email", "password"):
            return bad
        if data["email"] != sim.email:
            return error(404, "user not found")
        if data["password"] != sim.password:
            return error(401, "invalid password")
        user = {
            "email": sim.email,
            "name": "Simulated user",
            "active_project": sim.project_id,
            "created_at": "2025-03-05T11:04:49.875Z",
            "updated_at": "2025-03-05T11:06:02.837Z",
            "company_name": None,
        }
        return jsonify(
            {
                "message": "login successful.",
                "status": "success",
                **sim.tokens.issue(),
                "user": user,
                "loginStatus": 7,
            }
        )

    @app.post("/auth/refresh-token")
    def refresh_token():
        data = body()
        presented = data.get("refreshToken") or data.get("resfreshToken")
        if not presented:
            return error(400, "refreshToken is missing")
        pair = sim.tokens.refresh(presented)
        if pair is None:
            return error(401, "invalid or expired refresh token")
        # Bare body with the documented spelling.
        return jsonify(
            {
                "token": pair["token"],
                "resfreshToken": pair["refreshToken"],
                "expirationTime": pair["expirationTime"],
            }
        )


def _register_project(app: Flask, sim: TalkstackSimulator) -> None:
    @app.post("/project/call-status/add-webhookurl")
    def add_webhook_url():
        data = body()
        if bad := missing(data, "projectId", "webhookURL") or wrong_project(sim, data["projectId"]):
            return bad
        sim.webhook_url = data["webhookURL"]
        return jsonify({"message": "added webhook url.", "status": "success"})

    @app.get("/agent/<project_id>")
    def list_agents(project_id: str):
        if project_id != sim.project_id or not sim.agents:
            return error(404, "no agents found for this project")
        return jsonify([_public_agent(sim, a) for a in sim.agents])

    @app.post("/agent")
    def agent_details():
        data = body()
        if bad := missing(data, "projectId", "agentId") or wrong_project(sim, data["projectId"]):
            return bad
        agent = sim.agent(data["agentId"])
        return jsonify(_public_agent(sim, agent)) if agent else error(404, "agent not found")

    @app.post("/project/active-agent")
    def get_active_agent():
        data = body()
        if bad := missing(data, "projectId") or wrong_project(sim, data["projectId"]):
            return bad
        if not sim.active_agent:
            return error(404, "no active agent set")
        # The message is the one the docs copied from the webhook page.
        return jsonify(
            {"message": "added webhook url.", "status": "success", "active_agent": sim.active_agent}
        )

    @app.patch("/project/active-agent")
    def set_active_agent():
        data = body()
        if bad := missing(data, "projectId", "active_agent") or wrong_project(
            sim, data["projectId"]
        ):
            return bad
        if not sim.agent(data["active_agent"]):
            return error(400, "agent not found")
        sim.active_agent = data["active_agent"]
        project = {
            "name": "Simulated project",
            "description": "",
            "active_agent": sim.active_agent,
            "created_at": None,
            "call_status_webhook": sim.webhook_url,
            "user_id": "user-sim",
        }
        return jsonify(
            {
                "message": "updated active agent successfully.",
                "status": "success",
                "project": project,
            }
        )

    @app.post("/phone-number")
    def phone_number():
        agent = _agent_for_number_query(sim, body())
        if isinstance(agent, tuple):
            return agent
        data = {
            "e164": agent["phoneNumber"],
            "id": agent["phoneNumberId"],
            "status": "AVAILABLE",
            "projectId": sim.project_id,
            "agentId": agent["id"],
        }
        # The documented success example says "error".
        return jsonify(
            {
                "message": "Phone number details fetched successfully.",
                "status": "error",
                "data": data,
            }
        )

    @app.get("/voices")
    def list_voices():
        return jsonify(
            {
                "message": "successfully fetched voice list.",
                "status": "success",
                "voices": list(VOICES),
            }
        )

    @app.get("/voices/<voice_id>")
    def get_voice(voice_id: str):
        voice = next((v for v in VOICES if v["voice_id"] == voice_id), None)
        if voice is None:
            return error(404, "voice not found")
        return jsonify(
            {"message": "successfully fetched voice list.", "status": "success", "voice": voice}
        )


def _agent_for_number_query(sim: TalkstackSimulator, data: dict):
    """The agent whose number is asked for, by phoneNumberId > agentId > projectId."""
    if data.get("phoneNumberId"):
        agent = next((a for a in sim.agents if a["phoneNumberId"] == data["phoneNumberId"]), None)
    elif data.get("agentId"):
        agent = sim.agent(data["agentId"])
    elif data.get("projectId"):
        agent = sim.agents[0] if data["projectId"] == sim.project_id and sim.agents else None
    else:
        return error(400, "phoneNumberId, agentId or projectId is required")
    return agent or error(404, "phone number not found")


def _public_agent(sim: TalkstackSimulator, agent: dict) -> dict:
    shown = {**agent, "projectId": sim.project_id}
    return {name: shown[name] for name in PUBLIC_AGENT_FIELDS}


def _register_batch(app: Flask, sim: TalkstackSimulator) -> None:
    @app.post("/call/batch-call")
    def batch_call():
        form = request.form
        if bad := missing(form, "projectId", "agentId") or wrong_project(sim, form["projectId"]):
            return bad
        upload = request.files.get("file")
        if upload is None:
            return error(400, "file is missing")
        agent = sim.calling_agent(form["agentId"])
        if agent is None:
            return error(400, "agent not found")
        content = upload.read()
        try:
            rows, rejected = parse_batch_file(upload.filename or "", content)
        except BatchFileError as exc:
            return error(400, str(exc))
        batch = sim.place_batch(agent, upload.filename or "", content, rows, rejected)
        return jsonify(
            {
                "message": "batch call initiated.",
                "status": "success",
                "data": {"batchId": batch.batch_id, "rows": len(rows), "rejected": rejected},
            }
        )

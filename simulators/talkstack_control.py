"""Request hooks (recording, fault injection, auth) and `/_sim/*` control endpoints.

Control endpoints need no auth (the simulator listens on loopback) and are not recorded, so
tests and other processes can script the simulator without disturbing what it observed.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request

if TYPE_CHECKING:
    from simulators.talkstack import TalkstackSimulator

CONTROL_PREFIX = "/_sim"
UNAUTHENTICATED_PATHS = frozenset({
    "/auth/signup", "/auth/verify-email", "/auth/resend-code", "/auth/login",
    "/auth/refresh-token", "/auth/forgot-password", "/auth/reset-password",
})  # fmt: skip
OUTCOME_FIELDS = ("seconds", "answers", "data", "repeat")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict  # lower-cased names
    json: object
    form: dict
    files: dict  # field name -> bytes
    at: float

    def to_json(self) -> dict:
        body = dataclasses.asdict(self)
        body["files"] = {name: base64.b64encode(data).decode() for name, data in self.files.items()}
        return body


@dataclass
class Fault:
    remaining: int
    status: int | str  # an HTTP status, "timeout" (sleep, then 504) or "slow" (answer late)
    path_prefix: str | None
    retry_after: float | None = None


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message, "status": "error"}), status


def body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def missing(data: dict, *fields: str):
    """A 400 answer naming the first missing field, or None."""
    for name in fields:
        if data.get(name) in (None, ""):
            return error(400, f"{name} is missing")
    return None


def wrong_project(sim: TalkstackSimulator, project_id: str):
    return None if project_id == sim.project_id else error(400, "project not found")


def install_hooks(app: Flask, sim: TalkstackSimulator) -> None:
    @app.before_request
    def record_fault_authenticate():
        if request.path.startswith(CONTROL_PREFIX):
            return None
        sim.record_request(_recorded())
        fault = sim.take_fault(request.path)
        if fault is not None:
            answer = _apply_fault(sim, fault)
            if answer is not None:
                return answer
        if request.path not in UNAUTHENTICATED_PATHS and not _authenticated(sim):
            return error(401, "unauthorized: send a valid x-api-key or Bearer token")
        return None

    @app.after_request
    def answer_slowly(response):
        if g.get("slow"):
            time.sleep(sim.fault_sleep_seconds)
        return response


def _apply_fault(sim: TalkstackSimulator, fault):
    if fault.status == "slow":
        g.slow = True
        return None
    if fault.status == "timeout":
        time.sleep(sim.fault_sleep_seconds)
        return error(504, "simulated gateway timeout")
    response, status = error(int(fault.status), f"simulated failure {fault.status}")
    if fault.status == 429:
        response.headers["Retry-After"] = str(
            fault.retry_after if fault.retry_after is not None else 1
        )
    return response, status


def _authenticated(sim: TalkstackSimulator) -> bool:
    if request.headers.get("x-api-key") == sim.api_key:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and sim.tokens.is_valid(token.strip())


def _recorded() -> RecordedRequest:
    files = {}
    for name, storage in request.files.items():
        files[name] = storage.read()
        storage.seek(0)  # the route reads it again
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=request.args.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        json=request.get_json(silent=True),
        form=request.form.to_dict(),
        files=files,
        at=time.time(),
    )


def install_control(app: Flask, sim: TalkstackSimulator) -> None:
    @app.get(f"{CONTROL_PREFIX}/requests")
    def sim_requests():
        return jsonify([r.to_json() for r in list(sim.requests)])

    @app.get(f"{CONTROL_PREFIX}/calls")
    def sim_calls():
        now = time.monotonic()
        return jsonify({call.sid: call.summary(now) for call in sim.call_list()})

    @app.get(f"{CONTROL_PREFIX}/webhooks")
    def sim_deliveries():
        return jsonify(
            {
                "url": sim.webhook_url,
                "config": sim.webhooks.config.__dict__,
                "failures": sim.webhooks.failures,
                "deliveries": [d.__dict__ for d in list(sim.webhook_deliveries)],
            }
        )

    @app.post(f"{CONTROL_PREFIX}/outcomes")
    def sim_outcomes():
        body = request.get_json(silent=True) or {}
        if not body.get("number") or not body.get("status"):
            return error(400, "number and status are required")
        options = {k: body[k] for k in OUTCOME_FIELDS if k in body}
        sim.script_outcome(body["number"], body["status"], **options)
        return jsonify({"status": "success"})

    @app.post(f"{CONTROL_PREFIX}/faults")
    def sim_faults():
        body = request.get_json(silent=True) or {}
        try:
            status = body.get("status", 500)
            sim.fail_next(
                int(body.get("n", 1)),
                int(status) if str(status).isdigit() else status,
                path_prefix=body.get("pathPrefix"),
                retry_after=body.get("retryAfter"),
            )
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        return jsonify({"status": "success"})

    @app.post(f"{CONTROL_PREFIX}/webhooks")
    def sim_configure_webhooks():
        try:
            config = sim.configure_webhooks(**(request.get_json(silent=True) or {}))
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        return jsonify({"status": "success", "config": config.__dict__})

    @app.post(f"{CONTROL_PREFIX}/force-final")
    def sim_force_final():
        body = request.get_json(silent=True) or {}
        if body.get("sid") not in sim.calls:
            return error(404, "unknown sid")
        sim.force_final(body["sid"], body.get("status"))
        return jsonify({"status": "success", "callStatus": sim.status_of(body["sid"])})

    @app.post(f"{CONTROL_PREFIX}/reset")
    def sim_reset():
        sim.reset()
        return jsonify({"status": "success"})

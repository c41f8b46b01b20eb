"""Simulated Automation Actions v4: callback completion (Bearer) and action definitions
(developer `?hapikey=`)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from simulators.hubspot_http import SimError, batch_inputs, json_body

EXECUTION_STATES = frozenset({"SUCCESS", "FAIL_CONTINUE"})
REQUIRED_DEFINITION_FIELDS = ("actionUrl", "objectTypes", "labels")
DEFINITIONS_PAGE_MAX = 100


def _output_fields(body: dict) -> dict:
    fields = body.get("outputFields")
    if not isinstance(fields, dict):
        raise SimError(400, "outputFields must be an object")
    state = fields.get("hs_execution_state")
    if state is not None and state not in EXECUTION_STATES:
        raise SimError(400, f"hs_execution_state must be one of {sorted(EXECUTION_STATES)}")
    return fields


def _check_app(sim, app_id: str) -> None:
    if app_id != str(sim.app_id):
        raise SimError(
            404, f"App {app_id} not found for this developer account", "OBJECT_NOT_FOUND"
        )


def _definition(sim, definition_id: str) -> dict:
    found = sim.action_definitions.get(definition_id)
    if found is None:
        raise SimError(404, f"Action definition {definition_id} not found", "OBJECT_NOT_FOUND")
    return found


def register(app: Flask, sim) -> None:
    @app.post("/automation/v4/actions/callbacks/<callback_id>/complete")
    def callback_complete(callback_id: str):
        fields = _output_fields(json_body())
        with sim.lock:
            sim.callback_completions.append((callback_id, fields))
        return Response(status=204)

    @app.post("/automation/v4/actions/callbacks/complete")
    def callbacks_complete():
        inputs = batch_inputs(json_body())
        completions = []
        for item in inputs:
            if not isinstance(item, dict) or not item.get("callbackId"):
                raise SimError(400, "each input needs a callbackId")
            completions.append((str(item["callbackId"]), _output_fields(item)))
        with sim.lock:
            sim.callback_completions.extend(completions)
        return Response(status=204)

    @app.get("/automation/v4/actions/<app_id>")
    def definitions_list(app_id: str):
        _check_app(sim, app_id)
        limit = min(request.args.get("limit", DEFINITIONS_PAGE_MAX, type=int), DEFINITIONS_PAGE_MAX)
        offset = request.args.get("after", 0, type=int)
        found = list(sim.action_definitions.values())
        body = {"results": found[offset : offset + limit]}
        if offset + limit < len(found):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return jsonify(body)

    @app.post("/automation/v4/actions/<app_id>")
    def definition_create(app_id: str):
        _check_app(sim, app_id)
        body = json_body()
        missing = [f for f in REQUIRED_DEFINITION_FIELDS if not body.get(f)]
        if missing:
            raise SimError(400, f"Action definition is missing: {', '.join(missing)}")
        with sim.lock:
            definition_id = sim.next_definition_id()
            created = {
                "functions": [],
                "inputFields": [],
                "published": False,
                **body,
                "id": definition_id,
                "revisionId": "1",
            }
            sim.action_definitions[definition_id] = created
        response = jsonify(created)
        response.status_code = 201
        return response

    @app.get("/automation/v4/actions/<app_id>/<definition_id>")
    def definition_get(app_id: str, definition_id: str):
        _check_app(sim, app_id)
        return jsonify(_definition(sim, definition_id))

    @app.patch("/automation/v4/actions/<app_id>/<definition_id>")
    def definition_update(app_id: str, definition_id: str):
        _check_app(sim, app_id)
        body = json_body()
        with sim.lock:
            current = _definition(sim, definition_id)
            current.update({k: v for k, v in body.items() if k not in ("id", "revisionId")})
            current["revisionId"] = str(int(current["revisionId"]) + 1)
        return jsonify(current)

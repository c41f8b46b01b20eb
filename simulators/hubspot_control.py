"""`/_sim/*`: drive and inspect the HubSpot simulator over HTTP (no auth, not recorded).

Used by the sandbox and by tests that run the simulator in another process.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Flask, jsonify, request

from simulators.hubspot_http import SimError


def _body() -> dict | list:
    body = request.get_json(silent=True)
    if body is None:
        raise SimError(400, "expected a JSON body")
    return body


def register(app: Flask, sim) -> None:
    @app.get("/_sim/requests")
    def recorded_requests():
        prefix = request.args.get("pathPrefix", "")
        return jsonify([asdict(r) for r in list(sim.requests) if r.path.startswith(prefix)])

    @app.get("/_sim/contacts/<contact_id>")
    def contact(contact_id: str):
        props = sim.contacts.get(contact_id)
        if props is None:
            raise SimError(404, f"contact {contact_id} not found", "OBJECT_NOT_FOUND")
        return jsonify({"id": contact_id, "properties": dict(props)})

    @app.get("/_sim/calls")
    def calls():
        return jsonify(dict(sim.calls))

    @app.get("/_sim/notes")
    def notes():
        return jsonify(dict(sim.notes))

    @app.get("/_sim/callbacks")
    def callbacks():
        return jsonify(
            [{"callbackId": c, "outputFields": f} for c, f in list(sim.callback_completions)]
        )

    @app.post("/_sim/contacts")
    def add_contacts():
        body = _body()
        rows = body.get("contacts") if isinstance(body, dict) else body
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SimError(400, 'expected {"contacts": [{property: value}, ...]}')
        return jsonify({"ids": sim.add_contacts(rows)}), 201

    @app.post("/_sim/lists")
    def add_list():
        body = _body()
        ids = body.get("contactIds") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise SimError(400, 'expected {"contactIds": [...], "name"?: ...}')
        return jsonify({"listId": sim.add_list(ids, name=body.get("name"))}), 201

    @app.post("/_sim/faults")
    def faults():
        body = _body()
        sim.fail_next(
            int(body.get("count", 1)),
            body.get("status", 500),
            path_prefix=body.get("pathPrefix"),
            delay_seconds=body.get("delaySeconds"),
            apply=bool(body.get("apply", False)),
        )
        return jsonify({"ok": True})

    @app.post("/_sim/rate-limit")
    def rate_limit():
        body = _body()
        sim.set_rate_limit(
            body.get("limit"),
            float(body.get("windowSeconds", 10.0)),
            search_per_second=body.get("searchPerSecond"),
        )
        return jsonify({"ok": True})

    @app.post("/_sim/property-change")
    def property_change():
        body = _body()
        if not isinstance(body, dict) or not {"contactId", "name"} <= body.keys():
            raise SimError(400, "expected {contactId, name, value, deliverTo?, version?}")
        if str(body["contactId"]) not in sim.contacts:
            raise SimError(404, f"contact {body['contactId']} not found", "OBJECT_NOT_FOUND")
        response = sim.set_contact_property(
            str(body["contactId"]),
            body["name"],
            body.get("value"),
            deliver_to=body.get("deliverTo"),
            version=body.get("version", "v3"),
        )
        return jsonify({"deliveredStatus": response.status_code if response is not None else None})

    @app.post("/_sim/reset")
    def reset():
        sim.reset()
        return jsonify({"ok": True})

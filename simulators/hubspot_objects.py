"""Simulated CRM object endpoints: contacts, notes and v4 default associations (calls:
`hubspot_calls`).

Status codes are the ones the SDK deserialises (batch create 201/207, read/update 200/207,
basic create 201, v4 associate default 200); anything else would reach the SDK as None.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from simulators.hubspot_http import SimError, batch_inputs, json_body, now_iso

READ_ONLY_CONTACT_PROPERTIES = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})
# v3 object type names and ids accepted in paths; HUBSPOT_DEFINED default association types.
OBJECT_TYPES = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "calls": "calls", "call": "calls", "0-48": "calls",
    "notes": "notes", "note": "notes", "0-46": "notes",
}  # fmt: skip
DEFAULT_ASSOCIATION_TYPES = {
    ("calls", "contacts"): 194, ("contacts", "calls"): 193,
    ("notes", "contacts"): 202, ("contacts", "notes"): 201,
}  # fmt: skip
MAX_NOTE_BODY = 65_536


def object_type(name: str) -> str:
    try:
        return OBJECT_TYPES[name]
    except KeyError:
        raise SimError(400, f"Unable to infer object type from: {name}") from None


def simple_object(object_id: str, properties: dict, created_at: str, **extra) -> dict:
    return {
        "id": object_id,
        "properties": properties,
        "createdAt": created_at,
        "updatedAt": now_iso(),
        "archived": False,
        **extra,
    }


def batch_response(results: list, errors: list, started_at: str, ok_status: int):
    body = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": now_iso(),
    }
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    response = jsonify(body)
    response.status_code = 207 if errors else ok_status
    return response


def not_found_error(kind: str, ids: list[str]) -> dict:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {kind} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
    }


def input_ids(inputs: list) -> list[str]:
    ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in inputs]
    if len(set(ids)) != len(ids):
        raise SimError(400, "Duplicate IDs found in batch input", context={"ids": ids})
    return ids


def register(app: Flask, sim) -> None:
    @app.post("/crm/v3/objects/contacts/batch/read")
    def contacts_batch_read():
        started, body = now_iso(), json_body()
        ids = input_ids(batch_inputs(body))
        names = body.get("properties") or []
        found = [i for i in ids if i in sim.contacts]
        results = [simple_object(i, sim.contact_view(i, names), sim.created_at) for i in found]
        missing = [i for i in ids if i not in sim.contacts]
        errors = [not_found_error("CONTACT", missing)] if missing else []
        return batch_response(results, errors, started, 200)

    @app.post("/crm/v3/objects/contacts/batch/update")
    def contacts_batch_update():
        started = now_iso()
        inputs = batch_inputs(json_body())
        ids = input_ids(inputs)
        sim.check_contact_properties([item.get("properties") or {} for item in inputs])
        results, missing = [], []
        with sim.lock:
            for contact_id, item in zip(ids, inputs, strict=True):
                if contact_id not in sim.contacts:
                    missing.append(contact_id)
                    continue
                sim.write_contact(contact_id, item.get("properties") or {})
                props = sim.contact_view(contact_id, list(item.get("properties") or {}))
                results.append(simple_object(contact_id, props, sim.created_at))
        errors = [not_found_error("CONTACT", missing)] if missing else []
        return batch_response(results, errors, started, 200)

    @app.post("/crm/v3/objects/notes")
    def note_create():
        created, error = create_engagement(sim, "notes", json_body())
        if error:
            raise SimError(400, error["message"], error["category"])
        response = jsonify(created)
        response.status_code = 201
        return response

    @app.post("/crm/v4/associations/<from_type>/<to_type>/batch/associate/default")
    def associate_default(from_type: str, to_type: str):
        started = now_iso()
        pair = (object_type(from_type), object_type(to_type))
        type_id = DEFAULT_ASSOCIATION_TYPES.get(pair)
        if type_id is None:
            raise SimError(400, f"No default association from {pair[0]} to {pair[1]}")
        pairs = [_from_to(item) for item in batch_inputs(json_body())]
        unknown = [
            f"{kind}/{object_id}"
            for ids in pairs
            for kind, object_id in zip(pair, ids, strict=True)
            if not sim.exists(kind, object_id)
        ]
        if unknown:
            raise SimError(400, f"Unknown object(s): {', '.join(unknown)}", "OBJECT_NOT_FOUND")
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        results = []
        for from_id, to_id in pairs:
            sim.associate(pair[0], from_id, pair[1], to_id, type_id)
            results.append({"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec})
        return batch_response(results, [], started, 200)


def list_arg(name: str) -> list[str]:
    """The SDK repeats list query parameters (`multi`); other clients join them with commas."""
    return [part for value in request.args.getlist(name) for part in value.split(",") if part]


def _from_to(item) -> tuple[str, str]:
    try:
        return str(item["from"]["id"]), str(item["to"]["id"])
    except (KeyError, TypeError):
        raise SimError(400, "Each input needs from.id and to.id") from None


def as_strings(properties: dict) -> dict:
    """HubSpot stores every property value as a string."""
    return {name: as_string(value) for name, value in properties.items()}


def as_string(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_engagement(sim, kind: str, item: dict) -> tuple[dict | None, dict | None]:
    """Create one call or note from a create input: (created object, None) or (None, error)."""
    trace_id = item.get("objectWriteTraceId") if isinstance(item, dict) else None
    context = {"objectWriteTraceId": [trace_id]} if trace_id else {}

    def failure(category: str, message: str):
        return None, {
            "status": "error",
            "category": category,
            "message": message,
            "context": context,
        }

    properties = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(properties, dict):
        return failure("VALIDATION_ERROR", "properties must be an object")
    if not properties.get("hs_timestamp"):
        return failure(
            "VALIDATION_ERROR", "Property values were not valid: hs_timestamp is required"
        )
    if len(str(properties.get("hs_note_body", ""))) > MAX_NOTE_BODY:
        return failure("VALIDATION_ERROR", "hs_note_body is longer than 65536 characters")
    links = []
    for association in item.get("associations") or []:
        to_id = str(association.get("to", {}).get("id", ""))
        for spec in association.get("types") or []:
            links.append((to_id, int(spec.get("associationTypeId", 0))))
    unknown = [to_id for to_id, _ in links if to_id not in sim.contacts]
    if unknown:
        return failure(
            "VALIDATION_ERROR",
            f"Contact(s) {', '.join(unknown)} do not exist; cannot create association",
        )
    stored = as_strings(properties)
    with sim.lock:
        new_id = sim.next_engagement_id()
        store = sim.calls if kind == "calls" else sim.notes
        store[new_id] = {"properties": stored, "associations": []}
        for to_id, type_id in links:
            sim.associate(kind, new_id, "contacts", to_id, type_id)
    extra = {"objectWriteTraceId": trace_id} if trace_id else {}
    return simple_object(
        new_id, select_properties(stored, [], new_id), sim.created_at, **extra
    ), None


def select_properties(properties: dict, names: list[str], object_id: str) -> dict:
    chosen = {n: properties.get(n) for n in names} if names else dict(properties)
    chosen["hs_object_id"] = object_id
    return chosen

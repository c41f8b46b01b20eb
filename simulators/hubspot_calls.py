"""Simulated call (engagement) endpoints: batch create/update/read and get by id.

Call properties must be defined (400 PROPERTY_DOESNT_EXIST otherwise, as at HubSpot), and a
property with `hasUniqueValue` holds each value on one record only: a create or update that
would repeat one is refused for the whole batch with 409 CONFLICT. Batch read accepts
`idProperty` (a unique property) to look records up by that value.
"""

from __future__ import annotations

from flask import Flask, jsonify

from simulators.hubspot_http import (
    SimError,
    batch_inputs,
    json_body,
    now_iso,
    unknown_properties_error,
)
from simulators.hubspot_objects import (
    as_strings,
    batch_response,
    create_engagement,
    input_ids,
    list_arg,
    not_found_error,
    select_properties,
    simple_object,
)


def register(app: Flask, sim) -> None:
    @app.post("/crm/v3/objects/calls/batch/create")
    def calls_batch_create():
        started = now_iso()
        inputs = batch_inputs(json_body())
        properties = [_properties_of(item) for item in inputs]
        results, errors = [], []
        with sim.lock:
            sim.check_properties("calls", properties)
            _check_unique(sim, [(None, props) for props in properties])
            for item in inputs:
                created, error = create_engagement(sim, "calls", item)
                (results if created else errors).append(created or error)
        return batch_response(results, errors, started, 201)

    @app.post("/crm/v3/objects/calls/batch/update")
    def calls_batch_update():
        started = now_iso()
        inputs = batch_inputs(json_body())
        ids = input_ids(inputs)
        results, missing = [], []
        with sim.lock:
            sim.check_properties("calls", [_properties_of(item) for item in inputs])
            _check_unique(
                sim, [(i, _properties_of(item)) for i, item in zip(ids, inputs, strict=True)]
            )
            for call_id, item in zip(ids, inputs, strict=True):
                call = sim.calls.get(call_id)
                if call is None:
                    missing.append(call_id)
                    continue
                call["properties"].update(as_strings(_properties_of(item)))
                results.append(simple_object(call_id, dict(call["properties"]), sim.created_at))
        errors = [not_found_error("CALL", missing)] if missing else []
        return batch_response(results, errors, started, 200)

    @app.post("/crm/v3/objects/calls/batch/read")
    def calls_batch_read():
        started, body = now_iso(), json_body()
        keys = input_ids(batch_inputs(body))
        names = body.get("properties") or []
        with sim.lock:
            by_key = _lookup(sim, body.get("idProperty"), keys)
            results = [
                simple_object(
                    i, select_properties(sim.calls[i]["properties"], names, i), sim.created_at
                )
                for i in by_key.values()
            ]
        missing = [k for k in keys if k not in by_key]
        errors = [not_found_error("CALL", missing)] if missing else []
        return batch_response(results, errors, started, 200)

    @app.get("/crm/v3/objects/calls/<call_id>")
    def call_get(call_id: str):
        call = sim.calls.get(call_id)
        if call is None:
            raise SimError(
                404,
                f"Object not found.  objectId are usually numeric. ({call_id})",
                "OBJECT_NOT_FOUND",
            )
        names = list_arg("properties")
        extra = {}
        if "contacts" in list_arg("associations"):
            links = [{"id": c, "type": "call_to_contact"} for c in call["associations"]]
            extra["associations"] = {"contacts": {"results": links}}
        return jsonify(
            simple_object(
                call_id,
                select_properties(call["properties"], names, call_id),
                sim.created_at,
                **extra,
            )
        )


def _properties_of(item) -> dict:
    properties = item.get("properties") if isinstance(item, dict) else None
    return properties if isinstance(properties, dict) else {}


def _unique_names(sim) -> list[str]:
    return [n for n, d in sim.property_defs["calls"].items() if d.get("hasUniqueValue")]


def _check_unique(sim, writes: list[tuple[str | None, dict]]) -> None:
    """409 when a write would give a unique value to a second record (None: a new one)."""
    for name in _unique_names(sim):
        owners = {
            c["properties"].get(name): i for i, c in sim.calls.items() if c["properties"].get(name)
        }
        for record_id, properties in writes:
            value = as_strings({name: properties.get(name)})[name]
            if not value:
                continue
            owner = owners.get(value)
            if owner is not None and owner != record_id:
                raise SimError(
                    409,
                    f"A call with {name}={value} already exists. Existing ID: {owner}",
                    "CONFLICT",
                )
            owners[value] = record_id if record_id is not None else "(this batch)"


def _lookup(sim, id_property, keys: list[str]) -> dict[str, str]:
    """{requested key: call id} by record id, or by the value of a unique property."""
    if not id_property or id_property == "hs_object_id":
        return {k: k for k in keys if k in sim.calls}
    definition = sim.property_defs["calls"].get(id_property)
    if definition is None:
        raise unknown_properties_error([id_property])
    if not definition.get("hasUniqueValue"):
        raise SimError(400, f"{id_property} is not a unique property and cannot be an idProperty")
    by_value = {c["properties"].get(id_property): i for i, c in sim.calls.items()}
    return {k: by_value[k] for k in keys if k in by_value}

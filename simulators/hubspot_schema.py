"""Simulated properties and property groups (`/crm/v3/properties/{objectType}`).

Creating something that exists is a 409; a property needs an existing group and a
`type`/`fieldType` pair HubSpot allows.
"""

from __future__ import annotations

import re

from flask import Flask, jsonify

from simulators.hubspot_http import SimError, json_body, now_iso
from simulators.hubspot_objects import object_type

FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number"},
    "bool": {"booleancheckbox"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "date": {"date"},
    "datetime": {"date"},
}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
REQUIRED_PROPERTY_FIELDS = ("name", "label", "type", "fieldType", "groupName")

# Built-in groups and (some) HubSpot-defined properties: (name, label, type, fieldType, group).
DEFAULT_GROUPS = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("contact_activity", "Contact activity"),
    ],
    "calls": [("callinformation", "Call information")],
    "notes": [("noteinformation", "Note information")],
}
DEFAULT_PROPERTIES = {
    "contacts": [
        ("firstname", "First Name", "string", "text", "contactinformation"),
        ("lastname", "Last Name", "string", "text", "contactinformation"),
        ("email", "Email", "string", "text", "contactinformation"),
        ("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
        ("mobilephone", "Mobile Phone Number", "string", "phonenumber", "contactinformation"),
        ("company", "Company Name", "string", "text", "contactinformation"),
        ("jobtitle", "Job Title", "string", "text", "contactinformation"),
        ("city", "City", "string", "text", "contactinformation"),
        ("state", "State/Region", "string", "text", "contactinformation"),
        ("country", "Country/Region", "string", "text", "contactinformation"),
        ("zip", "Postal Code", "string", "text", "contactinformation"),
        ("hs_timezone", "Time Zone", "enumeration", "select", "contactinformation"),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation"),
        ("hubspot_owner_id", "Contact owner", "enumeration", "select", "contactinformation"),
        ("hs_pinned_engagement_id", "Pinned Engagement ID", "number", "number", "contact_activity"),
        ("hs_object_id", "Record ID", "number", "number", "contactinformation"),
        ("createdate", "Create Date", "datetime", "date", "contactinformation"),
        ("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation"),
    ],
    "calls": [
        (name, name, "string", "text", "callinformation")
        for name in (
            "hs_timestamp",
            "hs_call_title",
            "hs_call_body",
            "hs_call_duration",
            "hs_call_direction",
            "hs_call_status",
            "hs_call_disposition",
            "hs_call_from_number",
            "hs_call_to_number",
            "hs_call_recording_url",
            "hs_call_source",
            "hubspot_owner_id",
        )
    ],
    "notes": [
        (name, name, "string", "text", "noteinformation")
        for name in ("hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids")
    ],
}


def group_definition(name: str, label: str, display_order: int = -1) -> dict:
    return {"name": name, "label": label, "displayOrder": display_order, "archived": False}


def property_definition(body: dict, *, hubspot_defined: bool = False) -> dict:
    stamp = now_iso()
    return {
        "description": "",
        "options": [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "formField": False,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": False,
        },
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
        **body,
    }


def default_schema() -> tuple[dict, dict]:
    """Fresh {object type: {name: group}} and {object type: {name: property}}."""
    groups = {
        kind: {n: group_definition(n, label) for n, label in rows}
        for kind, rows in DEFAULT_GROUPS.items()
    }
    properties = {
        kind: {
            name: property_definition(
                {"name": name, "label": label, "type": t, "fieldType": ft, "groupName": group},
                hubspot_defined=True,
            )
            for name, label, t, ft, group in rows
        }
        for kind, rows in DEFAULT_PROPERTIES.items()
    }
    return groups, properties


def validate_property(body: dict, groups: dict) -> None:
    missing = [f for f in REQUIRED_PROPERTY_FIELDS if not body.get(f)]
    if missing:
        raise SimError(400, f"Property is missing required field(s): {', '.join(missing)}")
    if not PROPERTY_NAME.match(body["name"]):
        raise SimError(400, f"Invalid property name: {body['name']}")
    allowed = FIELD_TYPES.get(body["type"])
    if allowed is None or body["fieldType"] not in allowed:
        raise SimError(400, f"fieldType {body['fieldType']} is not valid for type {body['type']}")
    if body["groupName"] not in groups:
        raise SimError(400, f"Property group {body['groupName']} does not exist")
    for option in body.get("options") or []:
        if not isinstance(option, dict) or "label" not in option or "value" not in option:
            raise SimError(400, "each option needs a label and a value")


def _created(body: dict):
    response = jsonify(body)
    response.status_code = 201
    return response


def register(app: Flask, sim) -> None:
    @app.get("/crm/v3/properties/<kind>")
    def properties_list(kind: str):
        return jsonify({"results": list(sim.property_defs[object_type(kind)].values())})

    @app.post("/crm/v3/properties/<kind>")
    def property_create(kind: str):
        kind, body = object_type(kind), json_body()
        with sim.lock:
            validate_property(body, sim.group_defs[kind])
            if body["name"] in sim.property_defs[kind]:
                raise SimError(
                    409,
                    f"A property named '{body['name']}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                )
            created = property_definition(body)
            sim.property_defs[kind][body["name"]] = created
        return _created(created)

    @app.get("/crm/v3/properties/<kind>/<name>")
    def property_get(kind: str, name: str):
        found = sim.property_defs[object_type(kind)].get(name)
        if found is None:
            raise SimError(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return jsonify(found)

    @app.get("/crm/v3/properties/<kind>/groups")
    def groups_list(kind: str):
        return jsonify({"results": list(sim.group_defs[object_type(kind)].values())})

    @app.post("/crm/v3/properties/<kind>/groups")
    def group_create(kind: str):
        kind, body = object_type(kind), json_body()
        if not body.get("name") or not body.get("label"):
            raise SimError(400, "Property group needs a name and a label")
        with sim.lock:
            if body["name"] in sim.group_defs[kind]:
                raise SimError(
                    409,
                    f"A property group named '{body['name']}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                )
            created = group_definition(body["name"], body["label"], body.get("displayOrder", -1))
            sim.group_defs[kind][body["name"]] = created
        return _created(created)

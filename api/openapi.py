"""GET /api/openapi.json: the API described from the same marshmallow schemas it validates with."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import jsonify

from api import bp
from api.schemas import BatchCreateSchema, CallCreateSchema

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_RESPONSES = {
    status: {"description": text, "content": {"application/json": {"schema": ERROR}}}
    for status, text in (
        ("400", "Invalid body"),
        ("401", "Missing or wrong bearer token"),
        ("404", "Not found"),
        ("413", "Body over 1 MiB"),
    )
}
CALL_VIEW = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "contactId": {"type": "string"},
        "trigger": {"type": "string"},
        "state": {"type": "string"},
        "reason": {"type": "string", "nullable": True},
        "attempts": {"type": "integer"},
        "talkstackCallId": {"type": "string", "nullable": True},
        "status": {"type": "string", "nullable": True},
        "outcome": {"type": "string", "nullable": True},
        "hubspotCallId": {"type": "string", "nullable": True},
    },
}
ACCEPTED = {
    "description": "Accepted",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"id": {"type": "integer"}},
                "required": ["id"],
            }
        }
    },
}


def _json_body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def build_spec() -> dict:
    spec = APISpec(
        title="Talkstack ⇄ HubSpot connector",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.schema("CallCreate", schema=CallCreateSchema)
    spec.components.schema("BatchCreate", schema=BatchCreateSchema)
    spec.components.schema("CallView", CALL_VIEW)
    spec.components.schema(
        "Error",
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                }
            },
            "required": ["error"],
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.path(
        "/api/calls",
        operations={
            "post": {
                "summary": "Ask for a call to one HubSpot contact (the calling policy applies)",
                "requestBody": _json_body("CallCreate"),
                "security": [{"bearer": []}],
                "responses": {"202": ACCEPTED, **ERROR_RESPONSES},
            }
        },
    )
    spec.path(
        "/api/calls/{id}",
        operations={
            "get": {
                "summary": "A call request: decision, reason, Talkstack call and outcome",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "security": [{"bearer": []}],
                "responses": {
                    "200": {
                        "description": "The call request",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CallView"}
                            }
                        },
                    },
                    **ERROR_RESPONSES,
                },
            }
        },
    )
    from api.batches import batch_paths

    for path, operations in batch_paths().items():
        spec.path(path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_spec())

"""Marshmallow schemas for every inbound payload. Unknown fields are dropped here; the
raw bytes are kept in the ledger, so nothing HubSpot sent is lost."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ObjectId = fields.Integer(required=True, strict=False, validate=validate.Range(min=1))


class HubSpotEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    eventId = fields.Integer(required=True, strict=False)
    subscriptionId = fields.Integer(load_default=0, strict=False)
    portalId = fields.Integer(required=True, strict=False)
    appId = fields.Integer(load_default=None, strict=False, allow_none=True)
    occurredAt = fields.Integer(required=True, strict=False)
    subscriptionType = fields.String(load_default=None)
    eventType = fields.String(load_default=None)
    attemptNumber = fields.Integer(load_default=0, strict=False)
    objectId = ObjectId
    propertyName = fields.String(load_default=None, allow_none=True)
    propertyValue = fields.String(load_default=None, allow_none=True)
    changeSource = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _has_type(self, data, **_kwargs):
        if not (data.get("subscriptionType") or data.get("eventType")):
            raise ValidationError("subscriptionType (or eventType) is required", "subscriptionType")


class ActionObjectSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    objectId = ObjectId
    objectType = fields.String(load_default="CONTACT")
    properties = fields.Dict(keys=fields.String(), load_default=dict)


class ActionExecutionSchema(Schema):
    """Custom workflow action execution request (HubSpot → actionUrl)."""

    class Meta:
        unknown = EXCLUDE

    callbackId = fields.String(required=True, validate=validate.Length(min=1, max=255))
    object = fields.Nested(ActionObjectSchema, required=True)
    inputFields = fields.Dict(keys=fields.String(), load_default=dict)
    origin = fields.Dict(load_default=dict)
    context = fields.Dict(load_default=dict)


class OptionsRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    inputFieldName = fields.String(load_default="agentId")
    fetchOptions = fields.Dict(load_default=dict)
    origin = fields.Dict(load_default=dict)


def validation_message(error: ValidationError) -> str:
    """Flatten marshmallow's nested messages into one readable line."""
    messages = error.messages

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for item in value:
                yield from walk(prefix, item)
        else:
            yield f"{prefix}: {value}" if prefix else str(value)

    return "; ".join(walk("", messages))[:500]

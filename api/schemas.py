"""Marshmallow schemas for API bodies (also the source of the OpenAPI document)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ContactId = fields.String(
    required=True,
    validate=validate.Regexp(r"^[1-9][0-9]{0,19}$", error="must be a HubSpot record id (digits)"),
)


class CallCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    contactId = ContactId
    agentId = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    variables = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.String(validate=validate.Length(max=2000)),
        load_default=dict,
    )


class FilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    filterGroups = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=5))


class BatchCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    listId = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{1,20}$"))
    contactIds = fields.List(
        fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,19}$")),
        load_default=None,
        validate=validate.Length(min=1, max=100_000),
    )
    filter = fields.Nested(FilterSchema, load_default=None)
    agentId = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))

    @validates_schema
    def _one_source(self, data, **_kwargs):
        given = [k for k in ("listId", "contactIds", "filter") if data.get(k) is not None]
        if len(given) != 1:
            raise ValidationError("give exactly one of listId, contactIds or filter", "source")


def load_body(schema: Schema, body):
    from errors import ApiError
    from webhooks.schemas import validation_message

    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise ApiError(400, "invalid_body", validation_message(exc)) from None

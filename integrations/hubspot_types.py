"""Plain data passed in and out of HubSpotClient, and small shape conversions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from integrations.errors import IntegrationError

BATCH_SIZE = 100  # HubSpot's per-request input limit on every batch endpoint
SEARCH_PAGE_MAX = 200
SEARCH_RESULTS_CAP = 10_000  # paging past this returns 400
MEMBERSHIPS_PAGE_MAX = 250

# HUBSPOT_DEFINED association type ids (directional); kept here because the SDK's
# AssociationType turns into an Enum after 12.0.0.
CALL_TO_CONTACT = 194
NOTE_TO_CONTACT = 202

T = TypeVar("T")


@dataclass(frozen=True)
class CallInput:
    trace_id: str  # objectWriteTraceId: how results and errors are matched back to inputs
    properties: dict
    contact_id: str | None = None


@dataclass
class BatchOutcome:
    results: dict[str, str] = field(default_factory=dict)  # trace id / input id -> HubSpot id
    errors: list[tuple[str, str]] = field(default_factory=list)  # (trace id / input id, message)
    requests: int = 0  # HTTP requests sent, retries included


@dataclass(frozen=True)
class SearchPage:
    results: list[tuple[str, dict]]
    after: str | None
    total: int


def chunks(items: list[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique_ids(ids: Iterable) -> list[str]:
    """Stringified ids in first-seen order (HubSpot rejects duplicates in one batch)."""
    return list(dict.fromkeys(str(i) for i in ids))


def as_property_value(value) -> str:
    """HubSpot property values are strings; None clears a value, booleans are lowercase."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_properties(properties: dict) -> dict[str, str]:
    return {name: as_property_value(value) for name, value in properties.items()}


def merge_updates(updates: Iterable[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """One input per id, later values winning: HubSpot rejects duplicate ids in a batch."""
    merged: dict[str, dict] = {}
    for object_id, properties in updates:
        merged.setdefault(str(object_id), {}).update(properties)
    return list(merged.items())


def model_from_json(model_class, data: dict):
    """Build an SDK model from HubSpot's camelCase JSON; nested values stay plain JSON.

    The SDK serialises nested dicts untouched, so only the top level needs mapping.
    """
    by_json_key = {json_key: attr for attr, json_key in model_class.attribute_map.items()}
    unknown = set(data) - set(by_json_key)
    if unknown:
        raise ValueError(f"{model_class.__name__} has no field(s) {sorted(unknown)}")
    return model_class(**{by_json_key[key]: value for key, value in data.items()})


def batch_errors(response) -> list[tuple[str, str]]:
    """(trace id or input id, message) for each failed input of a 207 response.

    HubSpot names the failed inputs in `context`: `objectWriteTraceId` for creates,
    `ids` for reads/updates. An error without either is reported against "".
    """
    found: list[tuple[str, str]] = []
    for error in getattr(response, "errors", None) or []:
        message = f"{error.category}: {error.message}" if error.category else str(error.message)
        context = error.context or {}
        keys = context.get("objectWriteTraceId") or context.get("ids") or [""]
        found.extend((str(key), message) for key in keys)
    return found


@contextmanager
def keeping_partial(outcome: BatchOutcome):
    """Attach what earlier chunks achieved to an error raised by a later one."""
    try:
        yield
    except IntegrationError as exc:
        exc.partial_outcome = outcome
        raise


def association_to_contact(contact_id: str | None, type_id: int, sdk) -> list:
    """Inline `associations` for a create input, built from `sdk`'s own models."""
    if contact_id is None:
        return []
    spec = sdk.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)
    return [
        sdk.PublicAssociationsForObject(to=sdk.PublicObjectId(id=str(contact_id)), types=[spec])
    ]

"""Search request shapes: filter groups to SDK models, and paging past the 10,000 cap."""

from __future__ import annotations

from hubspot.crm.contacts import Filter, FilterGroup

from integrations.errors import PermanentError

MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
# Ascending ids make paging stable and let us continue past the cap with `hs_object_id GT`.
SORT_BY_ID = {"propertyName": "hs_object_id", "direction": "ASCENDING"}
_FILTER_FIELDS = {
    "propertyName": "property_name",
    "operator": "operator",
    "value": "value",
    "values": "values",
    "highValue": "high_value",
}


def filter_group_models(filter_groups: list[dict]) -> list[FilterGroup]:
    """HubSpot's JSON filterGroups (as sent to /search) to SDK models."""
    return [
        FilterGroup(
            filters=[
                Filter(
                    **{
                        _FILTER_FIELDS[key]: value
                        for key, value in f.items()
                        if key in _FILTER_FIELDS
                    }
                )
                for f in group.get("filters", [])
            ]
        )
        for group in filter_groups
    ]


def with_id_floor(filter_groups: list[dict], floor_id: str | None) -> list[dict]:
    """AND `hs_object_id > floor_id` into every group (groups are ORed)."""
    if floor_id is None:
        return filter_groups
    floor = {"propertyName": "hs_object_id", "operator": "GT", "value": str(floor_id)}
    if not filter_groups:
        return [{"filters": [floor]}]
    groups = [{"filters": [*group.get("filters", []), floor]} for group in filter_groups]
    total = sum(len(group["filters"]) for group in groups)
    if total > MAX_FILTERS_TOTAL or any(len(g["filters"]) > MAX_FILTERS_PER_GROUP for g in groups):
        raise PermanentError(
            "search matches more than 10,000 contacts and its filters leave no room for an "
            "hs_object_id floor; narrow the filter",
            vendor="HubSpot",
        )
    return groups


def next_offset(after: str | None) -> int | None:
    """The numeric offset HubSpot search uses as its `after` cursor (None if opaque)."""
    return int(after) if after is not None and after.isdigit() else None

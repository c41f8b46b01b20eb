"""Simulated contacts search and v3 list memberships, with HubSpot's limits.

Search: groups ORed, filters ANDed; at most 5 groups, 6 filters per group, 18 in total;
limit <= 200; `after` is a numeric offset and paging to 10,000 or beyond is a 400;
results ascend by id. Phone EQ compares digits and ignores a country code, like HubSpot's
`hs_searchable_calculated_*` phone matching.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re

from flask import Flask, jsonify, request

from simulators.hubspot_http import SimError, json_body, now_iso

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS_TOTAL = 5, 6, 18
MAX_LIMIT, DEFAULT_LIMIT, RESULTS_CAP = 200, 10, 10_000
MEMBERSHIPS_MAX_LIMIT, MEMBERSHIPS_DEFAULT_LIMIT = 250, 100
DEFAULT_SEARCH_PROPERTIES = ["firstname", "lastname", "email"]
QUERY_PROPERTIES = ("firstname", "lastname", "email", "phone", "mobilephone", "company")
PHONE_PROPERTIES = frozenset({"phone", "mobilephone"})
OPERATORS = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
})  # fmt: skip
_TOKEN_SPLIT = re.compile(r"[\s,;.@\-_/]+")
_CACHE_SIZE = 8


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _equal(name: str, actual: str, wanted) -> bool:
    wanted = _text(wanted)
    if name in PHONE_PROPERTIES:
        a, b = _digits(actual), _digits(wanted)
        shorter, longer = sorted((a, b), key=len)
        return bool(a) and (a == b or (len(shorter) >= 7 and longer.endswith(shorter)))
    a, b = _number(actual), _number(wanted)
    if a is not None and b is not None:
        return a == b
    return actual.casefold() == wanted.casefold()


def _compare(actual: str, wanted) -> int:
    a, b = _number(actual), _number(wanted)
    if a is None or b is None:
        a, b = actual, _text(wanted)
    return (a > b) - (a < b)


def _has_token(actual: str, wanted) -> bool:
    pattern = _text(wanted).casefold()
    tokens = [t for t in _TOKEN_SPLIT.split(actual.casefold()) if t]
    return any(fnmatch.fnmatchcase(token, pattern) for token in tokens) or pattern in tokens


def filter_matches(f: dict, props: dict, contact_id: str) -> bool:
    name, op = f["propertyName"], f["operator"]
    actual = contact_id if name == "hs_object_id" else props.get(name)
    present = actual not in (None, "")
    if op == "HAS_PROPERTY":
        return present
    if op == "NOT_HAS_PROPERTY":
        return not present
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"):
        positive = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}[op]
        return not filter_matches({**f, "operator": positive}, props, contact_id)
    if not present:
        return False
    if op == "EQ":
        return _equal(name, actual, f.get("value"))
    if op == "IN":
        return any(_equal(name, actual, v) for v in f.get("values") or [])
    if op == "CONTAINS_TOKEN":
        return _has_token(actual, f.get("value"))
    if op == "BETWEEN":
        return _compare(actual, f.get("value")) >= 0 and _compare(actual, f.get("highValue")) <= 0
    order = _compare(actual, f.get("value"))
    return {"GT": order > 0, "GTE": order >= 0, "LT": order < 0, "LTE": order <= 0}[op]


def validate_groups(groups) -> list[dict]:
    if not isinstance(groups, list):
        raise SimError(400, "filterGroups must be an array")
    if len(groups) > MAX_GROUPS:
        raise SimError(400, f"Too many filter groups: {len(groups)} (max {MAX_GROUPS})")
    total = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SimError(400, "each filter group needs a filters array")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SimError(
                400, f"Too many filters in a group: {len(filters)} (max {MAX_FILTERS_PER_GROUP})"
            )
        total += len(filters)
        for f in filters:
            if (
                not isinstance(f, dict)
                or f.get("operator") not in OPERATORS
                or not f.get("propertyName")
            ):
                raise SimError(400, f"Invalid filter: {json.dumps(f)}")
    if total > MAX_FILTERS_TOTAL:
        raise SimError(400, f"Too many filters: {total} (max {MAX_FILTERS_TOTAL})")
    return groups


def _query_matches(query: str, props: dict) -> bool:
    needle = query.casefold()
    return any(needle in (props.get(name) or "").casefold() for name in QUERY_PROPERTIES)


def matching_ids(sim, groups: list[dict], query: str | None) -> list[str]:
    """Ids (ascending) matching the search, cached per query until contacts change."""
    key = (json.dumps(groups, sort_keys=True), query, sim.contacts_version)
    cached = sim.search_cache.get(key)
    if cached is not None:
        return cached
    with sim.lock:
        items = list(sim.contacts.items())  # insertion order == ascending ids
    found = [
        contact_id
        for contact_id, props in items
        if (
            not groups
            or any(all(filter_matches(f, props, contact_id) for f in g["filters"]) for g in groups)
        )
        and (not query or _query_matches(query, props))
    ]
    if len(sim.search_cache) >= _CACHE_SIZE:
        sim.search_cache.clear()
    sim.search_cache[key] = found
    return found


def _search_window(body: dict) -> tuple[int, int]:
    limit = body.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or limit < 0 or limit > MAX_LIMIT:
        raise SimError(400, f"limit must be between 0 and {MAX_LIMIT}")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise SimError(400, f"Invalid 'after' value: {after}")
    if int(after) >= RESULTS_CAP:
        raise SimError(
            400,
            "Search results are limited to 10,000; narrow the filter to page further",
            subCategory="SEARCH_RESULTS_LIMIT",
        )
    return int(after), limit


def _membership_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _membership_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except ValueError:
        pass
    raise SimError(400, f"Invalid paging cursor: {cursor}")


def register(app: Flask, sim) -> None:
    @app.post("/crm/v3/objects/contacts/search")
    def contacts_search():
        body = json_body()
        groups = validate_groups(body.get("filterGroups") or [])
        offset, limit = _search_window(body)
        names = body.get("properties") or DEFAULT_SEARCH_PROPERTIES
        found = matching_ids(sim, groups, body.get("query"))
        page = found[offset : offset + limit]
        response = {
            "total": len(found),
            "results": [
                {
                    "id": i,
                    "properties": sim.contact_view(i, names),
                    "createdAt": sim.created_at,
                    "updatedAt": sim.created_at,
                    "archived": False,
                }
                for i in page
            ],
        }
        if offset + limit < len(found):
            response["paging"] = {"next": {"after": str(offset + limit)}}
        return jsonify(response)

    @app.get("/crm/v3/lists/<list_id>/memberships")
    def list_memberships(list_id: str):
        members = sim.lists.get(list_id)
        if members is None:
            raise SimError(404, f"List {list_id} does not exist.", "OBJECT_NOT_FOUND")
        limit = request.args.get("limit", MEMBERSHIPS_DEFAULT_LIMIT, type=int)
        if limit is None or not 0 < limit <= MEMBERSHIPS_MAX_LIMIT:
            raise SimError(400, f"limit must be between 1 and {MEMBERSHIPS_MAX_LIMIT}")
        offset = _membership_offset(request.args.get("after"))
        joined = now_iso()
        page = members["ids"][offset : offset + limit]
        response = {
            "total": len(members["ids"]),
            "results": [{"recordId": i, "membershipTimestamp": joined} for i in page],
        }
        if offset + limit < len(members["ids"]):
            response["paging"] = {"next": {"after": _membership_cursor(offset + limit)}}
        return jsonify(response)

"""An in-process HubSpot for the sandbox, the benchmarks and the tests.

Real paths, status codes and body shapes (the official SDK talks to it unchanged via
`host=`), Bearer/hapikey auth, an optional rolling rate limit, injectable faults, every
request recorded, and signed webhook delivery. State is plain dicts on this object.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterable

from flask import Flask

from simulators import (
    hubspot_automation,
    hubspot_calls,
    hubspot_control,
    hubspot_objects,
    hubspot_schema,
    hubspot_search,
)
from simulators.hubspot_http import (
    Fault,
    FaultQueue,
    RecordedRequest,
    RollingWindow,
    install_hooks,
    now_iso,
    unknown_properties_error,
)
from simulators.hubspot_objects import READ_ONLY_CONTACT_PROPERTIES, as_strings
from simulators.hubspot_webhooks import WebhookSenderMixin
from simulators.server import RunningServer, serve

DEFAULT_TIMEOUT_FAULT_SECONDS = 1.0
# Id ranges that do not overlap, so a mixed-up id fails loudly in tests.
FIRST_CONTACT_ID = 1001
FIRST_ENGAGEMENT_ID = 90_000_001
FIRST_LIST_ID = 1
FIRST_DEFINITION_ID = 7001


class HubSpotSimulator(WebhookSenderMixin):
    def __init__(
        self,
        *,
        access_token: str = "sim-hubspot-token",
        client_secret: str = "sim-client-secret",
        developer_api_key: str = "sim-dev-key",
        rate_limit: int | None = None,
        rate_window_seconds: float = 10.0,
        portal_id: int = 62515,
        app_id: int = 54321,
        strict_properties: bool = True,
    ) -> None:
        self.access_token = access_token
        self.client_secret = client_secret
        self.developer_api_key = developer_api_key
        self.portal_id = portal_id
        self.app_id = app_id
        # Writing a contact property that was never defined is a 400, as at HubSpot.
        self.strict_properties = strict_properties
        self.rate_group = f"api-product:{app_id}"
        self.timeout_fault_seconds = DEFAULT_TIMEOUT_FAULT_SECONDS
        self.url: str | None = None
        self.lock = threading.RLock()
        self._server: RunningServer | None = None
        self.reset()
        self.set_rate_limit(rate_limit, rate_window_seconds)
        self.wsgi_app = self._build_app()

    def reset(self) -> None:
        """Forget all data, requests, faults and limits (credentials stay)."""
        with self.lock:
            self.requests: list[RecordedRequest] = []
            self.contacts: dict[str, dict] = {}
            self.calls: dict[str, dict] = {}
            self.notes: dict[str, dict] = {}
            self.lists: dict[str, dict] = {}
            self.associations: set[tuple[str, str, str, str, int]] = set()
            self.callback_completions: list[tuple[str, dict]] = []
            self.action_definitions: dict[str, dict] = {}
            self.group_defs, self.property_defs = hubspot_schema.default_schema()
            self.property_groups = self.group_defs["contacts"]
            self.properties = self.property_defs["contacts"]
            self.contacts_version = 0
            self.search_cache: dict = {}
            self.created_at = now_iso()
            self._faults = FaultQueue()
            self._window: RollingWindow | None = None
            self._search_window: RollingWindow | None = None
            self._contact_ids = itertools.count(FIRST_CONTACT_ID)
            self._engagement_ids = itertools.count(FIRST_ENGAGEMENT_ID)
            self._list_ids = itertools.count(FIRST_LIST_ID)
            self._definition_ids = itertools.count(FIRST_DEFINITION_ID)
            self._event_ids = itertools.count(1)
            self._subscription_ids: dict[str, int] = {}

    def _build_app(self) -> Flask:
        app = Flask("hubspot_simulator")
        install_hooks(app, self)
        for module in (
            hubspot_objects,
            hubspot_calls,
            hubspot_search,
            hubspot_schema,
            hubspot_automation,
            hubspot_control,
        ):
            module.register(app, self)
        return app

    # --- running it -----------------------------------------------------------------

    def start(self) -> str:
        """Serve on a free loopback port; returns (and sets) `url`."""
        self._server = serve(self.wsgi_app)
        self.url = self._server.url
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # --- seeding --------------------------------------------------------------------

    def add_contact(self, **properties) -> str:
        return self.add_contacts([properties])[0]

    def add_contacts(self, rows: Iterable[dict]) -> list[str]:
        """Bulk add; values are stored as strings under interned names (100k stay small)."""
        ids, names = [], set()
        with self.lock:
            for row in rows:
                contact_id = str(next(self._contact_ids))
                self.contacts[contact_id] = {
                    sys.intern(name): value
                    for name, value in as_strings(row).items()
                    if value != ""
                }
                names.update(row)
                ids.append(contact_id)
            self._register_seeded_properties(names)
            self.contacts_version += 1
        return ids

    def _register_seeded_properties(self, names: set[str]) -> None:
        for name in names - self.properties.keys():
            self.properties[name] = hubspot_schema.property_definition(
                {
                    "name": name,
                    "label": name,
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "contactinformation",
                }
            )

    def add_list(self, contact_ids, name: str | None = None) -> str:
        list_id = str(next(self._list_ids))
        ids = sorted({str(i) for i in contact_ids}, key=int)  # memberships ascend by recordId
        with self.lock:
            self.lists[list_id] = {"name": name or f"List {list_id}", "ids": ids}
        return list_id

    # --- behaviour switches ---------------------------------------------------------

    def set_rate_limit(
        self,
        limit: int | None,
        window_seconds: float = 10.0,
        *,
        search_per_second: int | None = None,
    ) -> None:
        """Rolling limit for every API request but search (None = unlimited); search has its
        own per-second limit, as at HubSpot."""
        self._window = RollingWindow(int(limit), float(window_seconds)) if limit else None
        self._search_window = (
            RollingWindow(int(search_per_second), 1.0) if search_per_second else None
        )

    def fail_next(
        self,
        n: int,
        status: int | str = 500,
        *,
        path_prefix: str | None = None,
        delay_seconds: float | None = None,
        apply: bool = False,
    ) -> None:
        """The next `n` matching requests fail with `status` and a HubSpot-shaped body.

        429 carries `Retry-After: delay_seconds` (default 1). "timeout" stalls for
        `delay_seconds` (default `timeout_fault_seconds`) then answers 504, or, with
        `apply=True`, performs the request and answers late (an ambiguous write).
        """
        if status != "timeout":
            status = int(status)
        default_delay = 1.0 if status == 429 else self.timeout_fault_seconds
        delay = default_delay if delay_seconds is None else float(delay_seconds)
        self._faults.add(Fault(int(n), status, path_prefix, delay, apply))

    # --- state helpers used by the route modules ------------------------------------

    def _record(self, record: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(record)

    def contact_view(self, contact_id: str, names: list[str]) -> dict:
        """Requested properties (None when unset) plus the ones HubSpot always returns."""
        props = self.contacts[contact_id]
        view = {name: props.get(name) for name in names}
        view.update(
            hs_object_id=contact_id,
            createdate=self.created_at,
            lastmodifieddate=props.get("lastmodifieddate", self.created_at),
        )
        return view

    def check_contact_properties(self, updates: list[dict]) -> None:
        self.check_properties("contacts", updates)

    def check_properties(self, kind: str, updates: list[dict]) -> None:
        """400 PROPERTY_DOESNT_EXIST for a write naming a property `kind` does not define."""
        if not self.strict_properties:
            return
        defined = self.property_defs[kind].keys()
        unknown = sorted({name for props in updates for name in props} - defined)
        if unknown:
            raise unknown_properties_error(unknown)

    def write_contact(self, contact_id: str, properties: dict) -> None:
        """Apply an update: "" clears, read-only properties are ignored."""
        with self.lock:
            stored = self.contacts[contact_id]
            for name, value in as_strings(properties).items():
                if name in READ_ONLY_CONTACT_PROPERTIES:
                    continue
                if value == "":
                    stored.pop(name, None)
                else:
                    stored[sys.intern(name)] = value
            stored["lastmodifieddate"] = now_iso()
            self.contacts_version += 1

    def exists(self, kind: str, object_id: str) -> bool:
        return (
            object_id in {"contacts": self.contacts, "calls": self.calls, "notes": self.notes}[kind]
        )

    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int
    ) -> None:
        with self.lock:
            self.associations.add((from_type, from_id, to_type, to_id, type_id))
            engagements = {"calls": self.calls, "notes": self.notes}.get(from_type)
            if engagements is not None and to_type == "contacts":
                linked = engagements[from_id]["associations"]
                if to_id not in linked:
                    linked.append(to_id)

    def next_engagement_id(self) -> str:
        return str(next(self._engagement_ids))

    def next_definition_id(self) -> str:
        return str(next(self._definition_ids))

    # --- assertions -----------------------------------------------------------------

    def max_requests_in_window(
        self, window_seconds: float = 10.0, path_prefix: str | None = None
    ) -> int:
        """Most recorded requests (rejected ones included) arriving within any window."""
        stamps = sorted(
            r.at
            for r in list(self.requests)
            if path_prefix is None or r.path.startswith(path_prefix)
        )
        most, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window_seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

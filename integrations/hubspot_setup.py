"""HubSpotClient's one-off setup calls: properties, groups, action definitions, access check.

Setup is idempotent: it reads what exists first and creates only what is missing, so a
second run sends no creates (and adds no 409s to the account's error rate).
"""

from __future__ import annotations

from hubspot.automation.actions import PublicActionDefinitionEgg, PublicActionDefinitionPatch
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from integrations.errors import AuthError, PermanentError
from integrations.hubspot_transport import require_response
from integrations.hubspot_types import model_from_json

DEFINITIONS_PAGE = 100
# PATCH accepts a subset of the create body (no functions, no archivedAt).
PATCHABLE_DEFINITION_FIELDS = frozenset(PublicActionDefinitionPatch.attribute_map.values())


def _already_exists(exc: PermanentError) -> bool:
    return exc.status == 409


class HubSpotSetupMixin:
    """Needs `_call`, `_properties`, `_property_groups` and `_definitions` from the client."""

    def get_property_names(self, object_type: str = "contacts") -> set[str]:
        response = self._call("properties list", self._properties.get_all, object_type)
        return {prop.name for prop in require_response(response, "properties list").results or []}

    def ensure_property_group(
        self, name: str, label: str, *, object_type: str = "contacts"
    ) -> bool:
        """Create the group unless it exists; True when this call created it."""
        response = self._call("property groups list", self._property_groups.get_all, object_type)
        existing = {
            group.name for group in require_response(response, "property groups list").results or []
        }
        if name in existing:
            return False
        request = PropertyGroupCreate(name=name, label=label, display_order=-1)
        try:
            self._call("property group create", self._property_groups.create, object_type, request)
        except PermanentError as exc:
            if _already_exists(exc):  # created concurrently by another process
                return False
            raise
        return True

    def ensure_properties(
        self, definitions: list[dict], *, object_type: str = "contacts"
    ) -> list[str]:
        """Create the properties (HubSpot JSON shape) that do not exist; return their names."""
        existing = self.get_property_names(object_type)
        created = []
        for definition in definitions:
            if definition["name"] in existing:
                continue
            request = model_from_json(PropertyCreate, definition)
            try:
                self._call("property create", self._properties.create, object_type, request)
            except PermanentError as exc:
                if _already_exists(exc):
                    continue
                raise
            created.append(definition["name"])
        return created

    def upsert_action_definition(self, app_id: str, definition: dict) -> str:
        """Create the custom workflow action, or PATCH the one with the same actionUrl."""
        if self._definitions is None:
            raise AuthError("action definitions need a developer API key", vendor="HubSpot")
        existing_id = self._find_definition_id(str(app_id), definition["actionUrl"])
        if existing_id is not None:
            patch = {k: v for k, v in definition.items() if k in PATCHABLE_DEFINITION_FIELDS}
            self._call(
                "action definition update",
                self._definitions.update,
                existing_id,
                str(app_id),
                model_from_json(PublicActionDefinitionPatch, patch),
            )
            return existing_id
        response = self._call(
            "action definition create",
            self._definitions.create,
            str(app_id),
            model_from_json(PublicActionDefinitionEgg, definition),
            replay_safe=False,
        )
        return require_response(response, "action definition create").id

    def _find_definition_id(self, app_id: str, action_url: str) -> str | None:
        after = None
        while True:
            response = require_response(
                self._call(
                    "action definitions list",
                    self._definitions.get_page,
                    app_id,
                    limit=DEFINITIONS_PAGE,
                    after=after,
                ),
                "action definitions list",
            )
            for found in response.results or []:
                if found.action_url == action_url:
                    return found.id
            paging_next = response.paging.next if response.paging else None
            after = paging_next.after if paging_next else None
            if not after:
                return None

    def check_access(self) -> None:
        """One cheap authenticated GET; raises AuthError/TransientError on failure."""
        self._call("access check", self._property_groups.get_all, "contacts")

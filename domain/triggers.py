"""Which HubSpot events ask for a call (SPEC §3 CALL_TRIGGER_PROPERTY etc., §5)."""

from __future__ import annotations

from dataclasses import dataclass

TRUE_VALUES = frozenset({"true", "yes", "1"})
PROPERTY_CHANGE = "contact.propertyChange"
CREATION = "contact.creation"


@dataclass(frozen=True)
class TriggerMatch:
    contact_id: str
    agent_id: str | None = None
    resets_property: str | None = None  # the trigger property to set back to false


def match_event(
    event: dict, *, trigger_property: str, call_on_creation: bool, rules
) -> TriggerMatch | None:
    """Return the call this event asks for, or None when it asks for nothing."""
    kind = event.get("subscriptionType") or event.get("eventType")
    contact_id = str(event.get("objectId") or "")
    if not contact_id:
        return None
    if kind == CREATION and call_on_creation:
        return TriggerMatch(contact_id)
    if kind != PROPERTY_CHANGE:
        return None
    name, value = event.get("propertyName"), event.get("propertyValue")
    if name == trigger_property and str(value or "").strip().lower() in TRUE_VALUES:
        return TriggerMatch(contact_id, resets_property=trigger_property)
    rule = rules.matches_property_change(name, value) if rules is not None else None
    if rule is not None:
        return TriggerMatch(contact_id, agent_id=rule.agent_id)
    return None

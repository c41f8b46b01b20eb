"""Create the HubSpot groups and properties the connector writes, where they are missing.

Used by `flask connector setup`, and by the engagement writer when HubSpot says a call
property does not exist (an account set up before the property was added): the connector
repairs that itself instead of dead-lettering every engagement until someone re-runs setup.
"""

from __future__ import annotations

from domain.hubspot_schema import PROPERTY_GROUP, call_property_definitions


def ensure_call_schema(hubspot) -> list[str]:
    """The `talkstack` group on calls and the call properties; names of those created."""
    hubspot.ensure_property_group(
        PROPERTY_GROUP["name"], PROPERTY_GROUP["label"], object_type="calls"
    )
    return hubspot.ensure_properties(call_property_definitions(), object_type="calls")

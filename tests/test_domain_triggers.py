"""Which HubSpot events request a call."""

from __future__ import annotations

from domain.rules import parse_rules
from domain.triggers import match_event


def event(kind="contact.propertyChange", **fields):
    return {"subscriptionType": kind, "objectId": 42, **fields}


def match(ev, *, creation=False, rules=None):
    return match_event(
        ev, trigger_property="talkstack_call_requested", call_on_creation=creation, rules=rules
    )


def test_trigger_property_to_true_requests_a_call_and_is_reset():
    found = match(event(propertyName="talkstack_call_requested", propertyValue="true"))
    assert found.contact_id == "42" and found.resets_property == "talkstack_call_requested"
    assert match(event(propertyName="talkstack_call_requested", propertyValue="false")) is None
    assert match(event(propertyName="firstname", propertyValue="true")) is None


def test_creation_only_when_enabled():
    assert match(event("contact.creation")) is None
    assert match(event("contact.creation"), creation=True).contact_id == "42"
    assert match(event("contact.deletion"), creation=True) is None


def test_extra_rules_from_the_config_file():
    rules = parse_rules(
        '[[triggers]]\nproperty = "lifecyclestage"\nequals = "salesqualifiedlead"\n'
        'agent_id = "agent-sql"\n',
        "rules.toml",
    )
    found = match(
        event(propertyName="lifecyclestage", propertyValue="salesqualifiedlead"), rules=rules
    )
    assert found.agent_id == "agent-sql" and found.resets_property is None
    assert match(event(propertyName="lifecyclestage", propertyValue="lead"), rules=rules) is None

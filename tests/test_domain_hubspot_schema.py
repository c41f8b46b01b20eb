import pytest

from domain.hubspot_schema import (
    CORE_PROPERTY_NAMES,
    PROPERTY_GROUP,
    SKIP_REASONS,
    contact_property_definitions,
)
from domain.rules_model import Question

# HubSpot's allowed fieldType per type (reference/hubspot.md §4.4).
FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number"},
    "bool": {"booleancheckbox"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "date": {"date"},
    "datetime": {"date"},
}
REQUIRED_KEYS = {"name", "label", "type", "fieldType", "groupName"}

QUESTIONS = (
    Question("interested", "Is the contact interested?", "Boolean"),
    Question("seats", "How many seats?", "Number"),
    Question("why", "Why not?", "Selector", ("Price", "Timing", "Other"), "hs_why"),
    Question("notes", "Anything else?", "Text"),
)


def by_name(definitions):
    return {d["name"]: d for d in definitions}


def options_of(definition):
    return [(o["label"], o["value"], o["displayOrder"]) for o in definition["options"]]


def test_group():
    assert PROPERTY_GROUP == {"name": "talkstack", "label": "Talkstack AI calls"}


def test_core_table_matches_spec():
    definitions = by_name(contact_property_definitions())
    assert {n: (d["type"], d["fieldType"]) for n, d in definitions.items()} == {
        "talkstack_last_call_status": ("enumeration", "select"),
        "talkstack_last_call_at": ("datetime", "date"),
        "talkstack_last_call_id": ("string", "text"),
        "talkstack_last_call_duration": ("number", "number"),
        "talkstack_call_attempts": ("number", "number"),
        "talkstack_last_skip_reason": ("enumeration", "select"),
        "talkstack_call_requested": ("bool", "booleancheckbox"),
        "talkstack_do_not_call": ("bool", "booleancheckbox"),
    }
    assert tuple(definitions) == CORE_PROPERTY_NAMES


def test_status_options_are_the_seven_final_statuses():
    status = by_name(contact_property_definitions())["talkstack_last_call_status"]
    values = [o["value"] for o in status["options"]]
    assert values == [
        "completed",
        "busy",
        "no-answer",
        "voicemail",
        "silence",
        "failed",
        "canceled",
    ]


def test_skip_reason_options():
    assert SKIP_REASONS == (
        "no_number",
        "invalid_number",
        "opted_out",
        "cooldown",
        "duplicate",
        "max_attempts",
        "quiet_hours",
    )
    skip = by_name(contact_property_definitions())["talkstack_last_skip_reason"]
    assert [o["value"] for o in skip["options"]] == list(SKIP_REASONS)
    assert [o["displayOrder"] for o in skip["options"]] == list(range(len(SKIP_REASONS)))


@pytest.mark.parametrize("name", ["talkstack_call_requested", "talkstack_do_not_call"])
def test_checkboxes_spell_out_true_and_false(name):
    definition = by_name(contact_property_definitions())[name]
    assert options_of(definition) == [("Yes", "true", 0), ("No", "false", 1)]


def test_every_definition_is_a_valid_property_create():
    for definition in contact_property_definitions(QUESTIONS):
        assert set(definition) >= REQUIRED_KEYS, definition
        assert definition["groupName"] == "talkstack"
        assert definition["fieldType"] in FIELD_TYPES[definition["type"]]
        assert definition["label"] and definition["description"]
        if definition["type"] == "enumeration":
            assert definition["options"], definition
        if "options" in definition:
            values = [o["value"] for o in definition["options"]]
            assert len(set(values)) == len(values)
            assert all(isinstance(v, str) and ";" not in v for v in values)


def test_one_typed_property_per_question():
    definitions = by_name(contact_property_definitions(QUESTIONS))
    assert len(definitions) == len(CORE_PROPERTY_NAMES) + len(QUESTIONS)
    assert (
        definitions["talkstack_interested"]["type"],
        definitions["talkstack_interested"]["fieldType"],
    ) == ("bool", "booleancheckbox")
    assert definitions["talkstack_seats"]["type"] == "number"
    assert definitions["talkstack_notes"]["type"] == "string"
    why = definitions["hs_why"]
    assert (why["type"], why["fieldType"]) == ("enumeration", "select")
    assert options_of(why) == [
        ("Price", "Price", 0),
        ("Timing", "Timing", 1),
        ("Other", "Other", 2),
    ]
    assert why["label"] == "Why not?"
    assert "Why not?" in why["description"]


def test_definitions_are_fresh_each_time():
    first = contact_property_definitions()
    first[0]["options"].clear()
    assert contact_property_definitions()[0]["options"]

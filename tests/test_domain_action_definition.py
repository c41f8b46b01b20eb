import json

from domain.action_definition import action_definition
from domain.rules_model import Question

BASE = "https://connector.example.com/"
QUESTIONS = (
    Question("interested", "Is the contact interested?", "Boolean"),
    Question("seats", "How many seats?", "Number"),
    Question("why", "Why not?", "Selector", ("Price", "Timing")),
    Question("notes", "Anything else?", "Text"),
)
SPEC_REQUIRED = {"actionUrl", "functions", "inputFields", "labels", "objectTypes", "published"}
OUTCOMES = ["Connected", "Busy", "No answer", "Left voicemail", "Failed"]
STATUSES = ["completed", "busy", "no-answer", "voicemail", "silence", "failed", "canceled"]


def fields_by_name(fields):
    return {f["typeDefinition"]["name"]: f for f in fields}


def test_top_level_shape():
    definition = action_definition(BASE, QUESTIONS)
    assert set(definition) >= SPEC_REQUIRED
    assert definition["actionUrl"] == "https://connector.example.com/webhooks/hubspot/actions/call"
    assert definition["objectTypes"] == ["CONTACT"]
    assert definition["published"] is True
    assert definition["functions"] == []
    assert definition["objectRequestOptions"] == {
        "properties": ["phone", "mobilephone", "firstname", "lastname", "company", "hs_timezone"]
    }
    json.dumps(definition)  # serialisable as the request body


def test_base_url_without_trailing_slash():
    definition = action_definition("https://c.example", ())
    assert definition["actionUrl"] == "https://c.example/webhooks/hubspot/actions/call"


def test_input_fields():
    inputs = fields_by_name(action_definition(BASE, ())["inputFields"])
    assert set(inputs) == {"agentId", "variables"}
    agent = inputs["agentId"]
    assert agent["typeDefinition"] == {
        "name": "agentId",
        "type": "enumeration",
        "fieldType": "select",
        "optionsUrl": "https://connector.example.com/webhooks/hubspot/actions/options/agents",
    }
    assert agent["isRequired"] is False
    assert agent["supportedValueTypes"] == ["STATIC_VALUE"]
    variables = inputs["variables"]
    assert (variables["typeDefinition"]["type"], variables["typeDefinition"]["fieldType"]) == (
        "string",
        "textarea",
    )
    assert variables["isRequired"] is False


def test_output_fields():
    outputs = fields_by_name(action_definition(BASE, QUESTIONS)["outputFields"])
    types = {
        n: (f["typeDefinition"]["type"], f["typeDefinition"]["fieldType"])
        for n, f in outputs.items()
    }
    assert types == {
        "call_status": ("enumeration", "select"),
        "call_outcome": ("enumeration", "select"),
        "duration_seconds": ("number", "number"),
        "talkstack_call_id": ("string", "text"),
        "recording_url": ("string", "text"),
        "attempts": ("number", "number"),
        "reason": ("string", "text"),
        "interested": ("bool", "booleancheckbox"),
        "seats": ("number", "number"),
        "why": ("enumeration", "select"),
        "notes": ("string", "text"),
    }
    values = {
        n: [o["value"] for o in f["typeDefinition"].get("options", [])] for n, f in outputs.items()
    }
    assert values["call_status"] == STATUSES
    assert values["call_outcome"] == OUTCOMES
    assert values["why"] == ["Price", "Timing"]


def test_english_labels_for_everything():
    definition = action_definition(BASE, QUESTIONS)
    english = definition["labels"]["en"]
    assert english["actionName"] == "Call with Talkstack AI"
    for key in ("actionDescription", "appDisplayName", "actionCardContent"):
        assert english[key]
    input_names = {f["typeDefinition"]["name"] for f in definition["inputFields"]}
    output_names = {f["typeDefinition"]["name"] for f in definition["outputFields"]}
    assert set(english["inputFieldLabels"]) == input_names
    assert set(english["inputFieldDescriptions"]) == input_names
    assert "key=value" in english["inputFieldDescriptions"]["variables"]
    assert set(english["outputFieldLabels"]) == output_names
    assert english["outputFieldLabels"]["seats"] == "How many seats?"


def test_execution_rules_cover_every_outcome_and_have_messages():
    definition = action_definition(BASE, ())
    rules = definition["executionRules"]
    messages = definition["labels"]["en"]["executionRules"]
    assert [r["labelName"] for r in rules] == list(messages)
    assert all(messages[name] for name in messages)
    outcomes = [r["conditions"]["call_outcome"] for r in rules if "call_outcome" in r["conditions"]]
    assert sorted(outcomes) == sorted(OUTCOMES)
    assert {"hs_execution_state": "FAIL_CONTINUE"} in [r["conditions"] for r in rules]


def test_definition_is_fresh_each_time():
    first = action_definition(BASE, ())
    first["objectRequestOptions"]["properties"].append("email")
    first["executionRules"][0]["conditions"]["x"] = 1
    second = action_definition(BASE, ())
    assert "email" not in second["objectRequestOptions"]["properties"]
    assert "x" not in second["executionRules"][0]["conditions"]

"""The "Call with Talkstack AI" custom workflow action (Automation Actions v4,
`PublicActionDefinitionEgg`), as printed / registered by `flask connector setup`.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.hubspot_schema import QUESTION_PROPERTY_TYPES, STATUS_LABELS
from domain.outcomes import FINAL_STATUSES, OUTCOME_LABELS
from domain.rules_model import Question

ACTION_PATH = "/webhooks/hubspot/actions/call"
AGENT_OPTIONS_PATH = "/webhooks/hubspot/actions/options/agents"
# Properties HubSpot sends with each execution, so most calls need no contact read.
ACTION_OBJECT_PROPERTIES = (
    "phone",
    "mobilephone",
    "firstname",
    "lastname",
    "company",
    "hs_timezone",
)

OUTPUT_LABELS = {
    "call_status": "Call status",
    "call_outcome": "Call outcome",
    "duration_seconds": "Call duration (seconds)",
    "talkstack_call_id": "Talkstack call ID",
    "recording_url": "Recording URL",
    "attempts": "Call attempts",
    "reason": "Reason no call was made",
}

# (labelName, conditions, message); HubSpot shows the first rule whose conditions match.
EXECUTION_RULES = (
    ("not_called", {"hs_execution_state": "FAIL_CONTINUE"}, "No call was made: {{reason}}"),
    ("connected", {"call_outcome": "Connected"}, "The contact answered the AI call"),
    ("voicemail", {"call_outcome": "Left voicemail"}, "The AI call reached voicemail"),
    ("busy", {"call_outcome": "Busy"}, "The line was busy"),
    ("no_answer", {"call_outcome": "No answer"}, "The contact did not answer"),
    ("failed", {"call_outcome": "Failed"}, "The call could not be completed"),
    ("waiting", {"hs_execution_state": "BLOCK"}, "Waiting for the Talkstack AI call to end"),
)


def _field(name: str, type_: str, field_type: str, **extra: object) -> dict:
    return {
        "typeDefinition": {"name": name, "type": type_, "fieldType": field_type, **extra},
        "supportedValueTypes": ["STATIC_VALUE"],
    }


def _enum_options(pairs: Iterable[tuple[str, str]]) -> list[dict]:
    return [
        {"label": label, "value": value, "displayOrder": order}
        for order, (label, value) in enumerate(pairs)
    ]


def _input_fields(base: str) -> list[dict]:
    agent = _field("agentId", "enumeration", "select", optionsUrl=base + AGENT_OPTIONS_PATH)
    variables = _field("variables", "string", "textarea")
    return [{**agent, "isRequired": False}, {**variables, "isRequired": False}]


def _question_output(question: Question) -> dict:
    type_, field_type = QUESTION_PROPERTY_TYPES[question.type]
    if question.type == "Selector":
        return _field(
            question.key, type_, field_type, options=_enum_options((o, o) for o in question.options)
        )
    return _field(question.key, type_, field_type)


def _output_fields(questions: list[Question]) -> list[dict]:
    statuses = _enum_options((STATUS_LABELS[s], s) for s in FINAL_STATUSES)
    outcomes = _enum_options((label, label) for label in OUTCOME_LABELS)
    return [
        _field("call_status", "enumeration", "select", options=statuses),
        _field("call_outcome", "enumeration", "select", options=outcomes),
        _field("duration_seconds", "number", "number"),
        _field("talkstack_call_id", "string", "text"),
        _field("recording_url", "string", "text"),
        _field("attempts", "number", "number"),
        _field("reason", "string", "text"),
        *(_question_output(q) for q in questions),
    ]


def _labels(questions: list[Question]) -> dict:
    return {
        "en": {
            "actionName": "Call with Talkstack AI",
            "actionDescription": "Have a Talkstack AI agent phone the enrolled contact and wait "
            "for the call's outcome before continuing.",
            "actionCardContent": "Call the contact with a Talkstack AI agent",
            "appDisplayName": "Talkstack AI",
            "inputFieldLabels": {"agentId": "Agent", "variables": "Extra variables"},
            "inputFieldDescriptions": {
                "agentId": "The Talkstack agent that places the call; blank = the default agent.",
                "variables": "Extra variables for the agent as key=value lines.",
            },
            "outputFieldLabels": {**OUTPUT_LABELS, **{q.key: q.question for q in questions}},
            "executionRules": {name: message for name, _, message in EXECUTION_RULES},
        }
    }


def action_definition(public_base_url: str, questions: Iterable[Question] = ()) -> dict:
    """The action definition JSON for `POST /automation/v4/actions/{appId}`."""
    base = public_base_url.rstrip("/")
    questions = list(questions)
    return {
        "actionUrl": base + ACTION_PATH,
        "objectTypes": ["CONTACT"],
        "published": True,
        "inputFields": _input_fields(base),
        "outputFields": _output_fields(questions),
        "objectRequestOptions": {"properties": list(ACTION_OBJECT_PROPERTIES)},
        "labels": _labels(questions),
        "executionRules": [
            {"labelName": name, "conditions": dict(conditions)}
            for name, conditions, _ in EXECUTION_RULES
        ],
        "functions": [],
    }

"""The property groups and properties `flask connector setup` creates (SPEC §7),
as HubSpot `PropertyGroupCreate` / `PropertyCreate` JSON bodies.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain import policy
from domain.outcomes import ENGAGEMENT_ID_PROPERTY, FINAL_STATUSES
from domain.rules_model import Question

PROPERTY_GROUP = {"name": "talkstack", "label": "Talkstack AI calls"}

# Why a contact was not called (SPEC §5.3); `quiet_hours` defers rather than drops.
SKIP_REASONS = (*policy.SKIP_REASONS, policy.QUIET_HOURS)
SKIP_REASON_LABELS = {
    "no_number": "No phone number",
    "invalid_number": "Invalid phone number",
    "opted_out": "Do not call",
    "cooldown": "Called recently (cooldown)",
    "duplicate": "Duplicate number in batch",
    "max_attempts": "Maximum attempts reached",
    "quiet_hours": "Outside calling hours (deferred)",
}
STATUS_LABELS = {
    "completed": "Completed",
    "busy": "Busy",
    "no-answer": "No answer",
    "voicemail": "Voicemail",
    "silence": "Silence",
    "failed": "Failed",
    "canceled": "Canceled",
}

# Question type → HubSpot (type, fieldType).
QUESTION_PROPERTY_TYPES = {
    "Boolean": ("bool", "booleancheckbox"),
    "Number": ("number", "number"),
    "Selector": ("enumeration", "select"),
    "Text": ("string", "text"),
}
_BOOL_OPTIONS = (("Yes", "true"), ("No", "false"))


def _options(pairs: Iterable[tuple[str, str]]) -> list[dict]:
    return [
        {"label": label, "value": value, "displayOrder": order}
        for order, (label, value) in enumerate(pairs)
    ]


def _property(
    name: str,
    label: str,
    type_: str,
    field_type: str,
    description: str,
    options: Iterable[tuple[str, str]] | None = None,
) -> dict:
    definition = {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": PROPERTY_GROUP["name"],
        "description": description,
    }
    if type_ == "bool" and options is None:
        options = _BOOL_OPTIONS  # HubSpot expects the two checkbox options spelled out
    if options is not None:
        definition["options"] = _options(options)
    return definition


# (name, label, type, fieldType, description, options as (label, value) pairs or None)
CORE_PROPERTIES = (
    ("talkstack_last_call_status", "Last Talkstack call status", "enumeration", "select",
     "Final status of the contact's last Talkstack AI call.",
     tuple((STATUS_LABELS[s], s) for s in FINAL_STATUSES)),
    ("talkstack_last_call_at", "Last Talkstack call at", "datetime", "date",
     "When the last Talkstack AI call started.", None),
    ("talkstack_last_call_id", "Last Talkstack call ID", "string", "text",
     "Talkstack call id of the last call.", None),
    ("talkstack_last_call_duration", "Last Talkstack call duration (s)", "number", "number",
     "Duration of the last Talkstack AI call in seconds.", None),
    ("talkstack_call_attempts", "Talkstack call attempts", "number", "number",
     "Call attempts made for the current trigger, the first included.", None),
    ("talkstack_last_skip_reason", "Last Talkstack skip reason", "enumeration", "select",
     "Why the connector last did not call this contact.",
     tuple((SKIP_REASON_LABELS[r], r) for r in SKIP_REASONS)),
    ("talkstack_call_requested", "Talkstack call requested", "bool", "booleancheckbox",
     "Set to Yes to have the AI agent call this contact; reset once handled.", None),
    ("talkstack_do_not_call", "Talkstack do not call", "bool", "booleancheckbox",
     "When Yes, the connector never calls this contact.", None),
)  # fmt: skip


CORE_PROPERTY_NAMES = tuple(row[0] for row in CORE_PROPERTIES)


def question_property_definition(question: Question) -> dict:
    type_, field_type = QUESTION_PROPERTY_TYPES[question.type]
    options = [(o, o) for o in question.options] if question.type == "Selector" else None
    return _property(
        question.property,
        question.question[:100],
        type_,
        field_type,
        f"Talkstack call analysis: {question.question}",
        options,
    )


def contact_property_definitions(questions: Iterable[Question] = ()) -> list[dict]:
    """Every contact property setup creates: the core table plus one per question."""
    return [_property(*row) for row in CORE_PROPERTIES] + [
        question_property_definition(q) for q in questions
    ]


def call_property_definitions() -> list[dict]:
    """The call-engagement properties setup creates (in a `talkstack` group on calls)."""
    definition = _property(
        ENGAGEMENT_ID_PROPERTY, "Talkstack call ID", "string", "text",
        "Talkstack call id of this call; one engagement per Talkstack call.",
    )
    definition["hasUniqueValue"] = True
    return [definition]

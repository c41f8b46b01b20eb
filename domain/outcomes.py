"""A Talkstack call's final status → HubSpot call engagement, contact properties and
workflow-action outputs (SPEC §4 action row, §7). Pure data in, plain dicts out.

HubSpot property values are strings; an answer that cannot be converted to its
question's type is left out, so a bad answer never clears a good earlier one.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.rules_model import Question

# Talkstack final status → HubSpot `hs_call_status` (SPEC §7). Order = property options.
HS_CALL_STATUS = {
    "completed": "COMPLETED",
    "voicemail": "COMPLETED",
    "silence": "COMPLETED",
    "busy": "BUSY",
    "no-answer": "NO_ANSWER",
    "failed": "FAILED",
    "canceled": "CANCELED",
}
FINAL_STATUSES = ("completed", "busy", "no-answer", "voicemail", "silence", "failed", "canceled")

# HubSpot's default call-outcome GUIDs (reference/hubspot.md §4.1).
DISPOSITION_CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
DISPOSITION_LEFT_VOICEMAIL = "b2cf5968-551e-4856-9783-52b3da59a7d0"
DISPOSITION_BUSY = "9d9162e7-6cf3-4944-bf63-4dff82258764"
DISPOSITION_NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"
HS_CALL_DISPOSITION = {
    "completed": DISPOSITION_CONNECTED,
    "voicemail": DISPOSITION_LEFT_VOICEMAIL,
    "busy": DISPOSITION_BUSY,
    "no-answer": DISPOSITION_NO_ANSWER,
    "silence": DISPOSITION_NO_ANSWER,  # Talkstack hangs up after 6 s of silence
}  # failed / canceled: no outcome, HubSpot shows none

OUTCOME_LABEL = {
    "completed": "Connected",
    "busy": "Busy",
    "no-answer": "No answer",
    "silence": "No answer",
    "voicemail": "Left voicemail",
    "failed": "Failed",
    "canceled": "Failed",
}
OUTCOME_LABELS = ("Connected", "Busy", "No answer", "Left voicemail", "Failed")

# Workflow-action outputs we always own; question keys may not reuse these names.
ACTION_OUTPUT_NAMES = (
    "call_status",
    "call_outcome",
    "duration_seconds",
    "talkstack_call_id",
    "recording_url",
    "attempts",
    "reason",
    "hs_execution_state",
)

CALL_TITLE = "Talkstack AI call"
MAX_TEXT_PROPERTY = 65_536  # HubSpot string property limit


@dataclass(frozen=True)
class FinalCall:
    """What the connector knows about a Talkstack call that reached a final status."""

    call_id: str
    status: str
    seconds: int
    started_at: datetime | None
    to_number: str | None = None
    from_number: str | None = None
    recording_urls: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)
    agent_name: str | None = None
    attempt: int = 1


def _require_final(status: str) -> str:
    if status not in HS_CALL_STATUS:
        raise ValueError(f"not a final Talkstack call status: {status!r}")
    return status


def iso_utc_ms(moment: datetime | None) -> str:
    """ISO-8601 UTC with milliseconds, e.g. `2024-01-30T13:39:53.000Z` (naive = UTC)."""
    if moment is None:
        raise ValueError("the call's start time is required (use the call record's date)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_https_url(urls: Iterable[str] | None) -> str | None:
    """HubSpot only plays HTTPS recordings."""
    for url in urls or ():
        if isinstance(url, str) and url.strip().lower().startswith("https://"):
            return url.strip()
    return None


def _duration_seconds(call: FinalCall) -> int:
    return max(0, int(call.seconds or 0))


def _format_number(number: float) -> str | None:
    if isinstance(number, float) and not math.isfinite(number):
        return None
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return str(number)


_TRUE_WORDS = {"yes", "true", "y", "1"}
_FALSE_WORDS = {"no", "false", "n", "0"}


def _boolean(answer: object) -> str | None:
    if isinstance(answer, bool):
        return "true" if answer else "false"
    word = str(answer).strip().lower()
    if word in _TRUE_WORDS:
        return "true"
    return "false" if word in _FALSE_WORDS else None


def _number(answer: object) -> str | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return _format_number(answer)
    try:
        return _format_number(float(str(answer).strip().replace(",", "")))
    except ValueError:
        return None


def _selector(answer: object, options: tuple[str, ...]) -> str | None:
    text = str(answer).strip()
    if text in options:
        return text
    folded = {option.strip().casefold(): option for option in options}
    return folded.get(text.casefold())


def answer_value(question: Question, answer: object) -> str | None:
    """`answer` as the string its HubSpot property takes, or None when it does not fit."""
    if answer is None:
        return None
    if question.type == "Boolean":
        return _boolean(answer)
    if question.type == "Number":
        return _number(answer)
    if question.type == "Selector":
        return _selector(answer, question.options)
    text = str(answer).strip()
    return text[:MAX_TEXT_PROPERTY] or None


# The call (engagement) property that makes engagement creation idempotent: its value is the
# Talkstack call id, unique across the account (hasUniqueValue), so a create whose answer
# was lost can be found again (batch read by idProperty) and a repeated create is refused.
ENGAGEMENT_ID_PROPERTY = "talkstack_call_id"


def engagement_properties(call: FinalCall, questions: Iterable[Question]) -> dict[str, str]:
    """Properties of the HubSpot call engagement for `call`."""
    status = _require_final(call.status)
    title = f"{CALL_TITLE} — {call.agent_name}" if call.agent_name else CALL_TITLE
    properties = {
        "hs_timestamp": iso_utc_ms(call.started_at),
        "hs_call_title": title,
        "hs_call_direction": "OUTBOUND",
        "hs_call_status": HS_CALL_STATUS[status],
        "hs_call_duration": str(_duration_seconds(call) * 1000),
        "hs_call_body": call_body_html(call, OUTCOME_LABEL[status], list(questions)),
        ENGAGEMENT_ID_PROPERTY: call.call_id,  # unique: one engagement per Talkstack call
    }
    if status in HS_CALL_DISPOSITION:
        properties["hs_call_disposition"] = HS_CALL_DISPOSITION[status]
    if call.to_number:
        properties["hs_call_to_number"] = call.to_number
    if call.from_number:
        properties["hs_call_from_number"] = call.from_number
    recording = first_https_url(call.recording_urls)
    if recording:
        properties["hs_call_recording_url"] = recording
    return properties


def contact_properties(call: FinalCall, questions: Iterable[Question]) -> dict[str, str]:
    """Contact properties to write after `call` (plus one per answered question)."""
    properties = {
        "talkstack_last_call_status": _require_final(call.status),
        "talkstack_last_call_at": iso_utc_ms(call.started_at),
        "talkstack_last_call_id": call.call_id,
        "talkstack_last_call_duration": str(_duration_seconds(call)),
        "talkstack_call_attempts": str(call.attempt),
    }
    for question in questions:
        value = answer_value(question, call.answers.get(question.key))
        if value is not None:
            properties[question.property] = value
    return properties


def _output_value(question: Question, answer: object) -> object | None:
    value = answer_value(question, answer)
    if value is None or question.type != "Number":
        return value
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 1e15 else number


def action_outputs(
    call: FinalCall | None, questions: Iterable[Question], attempts: int
) -> dict[str, object]:
    """`outputFields` completing the workflow action with SUCCESS (busy/no-answer included)."""
    outputs: dict[str, object] = {"hs_execution_state": "SUCCESS", "attempts": attempts}
    if call is None:
        return outputs
    status = _require_final(call.status)
    outputs.update(
        call_status=status,
        call_outcome=OUTCOME_LABEL[status],
        duration_seconds=_duration_seconds(call),
        talkstack_call_id=call.call_id,
    )
    recording = first_https_url(call.recording_urls)
    if recording:
        outputs["recording_url"] = recording
    for question in questions:
        value = _output_value(question, call.answers.get(question.key))
        if value is not None:
            outputs[question.key] = value
    return outputs


def action_failure_outputs(reason: str) -> dict[str, object]:
    """`outputFields` when no call could be made (skip code, permanent failure, expiry)."""
    return {"hs_execution_state": "FAIL_CONTINUE", "reason": reason}


# hs_call_body is HTML: every value is escaped and capped (after escaping) so the note
# stays readable and under HubSpot's 65,536-character limit.
BODY_VALUE_MAX = 500
BODY_LABEL_MAX = 200
BODY_DATA_ITEMS_MAX = 40


def _shown(value: object, limit: int = BODY_VALUE_MAX) -> str:
    """HTML-escaped text of at most `limit` characters (entities are never cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    escaped, used = [], 0
    for char in text:
        piece = html.escape(char, quote=True)
        if used + len(piece) > limit - 1:
            escaped.append("…")
            break
        escaped.append(piece)
        used += len(piece)
    return "".join(escaped)


def _item(label: object, value: object) -> str:
    return f"<li><strong>{_shown(label, BODY_LABEL_MAX)}:</strong> {_shown(value)}</li>"


def _human_duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _section(title: str, items: list[str]) -> str:
    return f"<p><strong>{title}</strong></p><ul>{''.join(items)}</ul>" if items else ""


def _data_items(data: dict) -> list[str]:
    entries = list((data or {}).items())
    items = [_item(key, value) for key, value in entries[:BODY_DATA_ITEMS_MAX]]
    if len(entries) > BODY_DATA_ITEMS_MAX:
        items.append(f"<li>… {len(entries) - BODY_DATA_ITEMS_MAX} more not shown</li>")
    return items


def call_body_html(call: FinalCall, outcome: str, questions: list[Question]) -> str:
    """Readable HTML summary: status, duration, attempt, analysis answers, extracted data."""
    summary = [
        _item("Outcome", f"{outcome} ({call.status})"),
        _item("Duration", _human_duration(_duration_seconds(call))),
        _item("Attempt", call.attempt),
        _item("Talkstack call id", call.call_id),
    ]
    if call.agent_name:
        summary.append(_item("Agent", call.agent_name))
    answers = [_item(q.question, _answer_shown(call.answers.get(q.key))) for q in questions]
    sections = [
        _section(CALL_TITLE, summary),
        _section("Analysis", answers),
        _section("Extracted data", _data_items(call.data)),
    ]
    body = "".join(sections)
    while len(body) > MAX_TEXT_PROPERTY and len(sections) > 1:
        sections.pop()  # the answers are in contact properties too; the summary always fits
        body = "".join(sections) + "<p>(more details were too long to show)</p>"
    return body


def _answer_shown(answer: object) -> object:
    return "(no answer)" if answer is None or answer == "" else answer

"""Talkstack data shapes and tolerant parsers (see reference/talkstack-api.md §2.3, §3.5, §4, §8).

The API mixes bare and enveloped bodies, three names for a call id and free-form top-level
keys on call records, so every alias is normalised here, in one place.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from integrations.errors import PermanentError

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset(
    {"completed", "busy", "failed", "no-answer", "voicemail", "silence", "canceled"}
)
PENDING_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})

CALL_ID_KEYS = ("callSid", "sid", "call_id", "CallSid")
STATUS_KEYS = ("status", "CallStatus", "callStatus")
SECONDS_KEYS = ("seconds", "duration", "CallDuration", "callDuration")
TO_KEYS = ("to", "To", "phoneNumber")
FROM_KEYS = ("from", "From")
DATE_KEYS = ("date", "startTime", "start_time", "dateCreated", "created_at")
RECORDING_KEYS = ("recordingUrls", "recordingUrl", "RecordingUrl")
VARIABLE_CONTAINER_KEYS = ("dynamicVariables", "variables")
# Keys with a known meaning; any other top-level string is an echoed variable (§3.5.2).
KNOWN_RECORD_KEYS = frozenset(
    {
        *CALL_ID_KEYS,
        *STATUS_KEYS,
        *SECONDS_KEYS,
        *TO_KEYS,
        *FROM_KEYS,
        *DATE_KEYS,
        *RECORDING_KEYS,
        *VARIABLE_CONTAINER_KEYS,
        "cost",
        "data",
        "message",
        "call",
        "price",
        "direction",
        "Direction",
        "AccountSid",
        "ApiVersion",
        "endTime",
        "end_time",
        "projectId",
        "agentId",
        "answeredBy",
        "AnsweredBy",
        "Timestamp",
        "SequenceNumber",
        "updated_at",
    }
)
CALL_LIST_KEYS = ("data", "calls", "history")
ANSWER_CONTAINER_KEYS = ("answers", "analysis", "data")


class CallNotFound(PermanentError):
    """Talkstack has no call with that SID (HTTP 404 from Get call data)."""


@dataclass(frozen=True)
class PlacedCall:
    call_id: str
    to: str | None
    from_: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class CallRecord:
    call_id: str | None
    status: str
    is_final: bool
    seconds: int | None
    started_at: datetime | None
    to_number: str | None
    from_number: str | None
    recording_urls: list[str]
    data: dict
    variables: dict
    raw: dict = field(repr=False)


def extract_call_id(payload: Any) -> str | None:
    """The call SID from any known shape: callSid, sid, call_id, CallSid, or those under `call`."""
    if not isinstance(payload, dict):
        return None
    for container in (payload, payload.get("call")):
        if not isinstance(container, dict):
            continue
        for key in CALL_ID_KEYS:
            value = container.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def parse_call_record(body: Any) -> CallRecord:
    """A CallRecord from a bare record, an envelope around one, or a webhook payload."""
    record = unwrap_call(body)
    status = (_first(record, STATUS_KEYS) or "").strip().lower()
    note_status(status)
    return CallRecord(
        call_id=extract_call_id(record),
        status=status,
        is_final=status in FINAL_STATUSES,
        seconds=_to_int(_first(record, SECONDS_KEYS)),
        started_at=parse_timestamp(_first(record, DATE_KEYS)),
        to_number=_first(record, TO_KEYS),
        from_number=_first(record, FROM_KEYS),
        recording_urls=_recording_urls(record),
        data=record.get("data") if isinstance(record.get("data"), dict) else {},
        variables=_variables(record),
        raw=body if isinstance(body, dict) else {"body": body},
    )


def unwrap_call(body: Any) -> dict:
    """The record inside `{"message", "status", "call"|"data": {...}}`, or the bare record."""
    if not isinstance(body, dict):
        return {}
    if isinstance(body.get("call"), dict):
        return body["call"]
    inner = body.get("data")
    # A bare record also has a `data` key (extracted data), so only unwrap a record-like one.
    if "message" in body and isinstance(inner, dict) and extract_call_id(inner):
        return inner
    return body


def unwrap(body: Any, *keys: str) -> Any:
    """The first payload key present in an envelope, or the body itself when bare."""
    if isinstance(body, dict):
        for key in keys:
            if key in body and body[key] is not None:
                return body[key]
    return body


def list_in(body: Any, keys: tuple[str, ...] = CALL_LIST_KEYS) -> list:
    """A bare list, or the list under one of `keys` (one level of nesting tolerated)."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return []
    for key in keys:
        value = body.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            nested = list_in({k: v for k, v in value.items() if k != key}, keys)
            if nested:
                return nested
    return []


def parse_agent(raw: dict) -> Agent:
    agent_id = raw.get("id") or raw.get("agentId") or raw.get("_id") or ""
    return Agent(id=str(agent_id), name=str(raw.get("name") or ""), raw=raw)


def parse_answers(body: Any, questions: list[str]) -> dict[str, object]:
    """{question: answer} from a dict keyed by question or a list of {question, answer}."""
    if isinstance(body, list):
        return {
            item["question"]: item.get("answer")
            for item in body
            if isinstance(item, dict) and isinstance(item.get("question"), str)
        }
    if not isinstance(body, dict):
        return {}
    for key in ANSWER_CONTAINER_KEYS:
        if key in body and key not in questions:
            found = parse_answers(body[key], questions)
            if found:
                return found
    return {q: body[q] for q in questions if q in body}


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from RFC 2822 (call `date`) or ISO-8601; naive values are UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parsed: datetime | None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_date(value: date | datetime) -> str:
    """YYYY-MM-DD in UTC, the history-filter format."""
    if isinstance(value, datetime):
        value = (value.astimezone(UTC) if value.tzinfo else value).date()
    return value.isoformat()


_unknown_statuses: set[str] = set()
_unknown_lock = threading.Lock()


def note_status(status: str) -> None:
    """Log each status outside the documented vocabulary once; it is treated as not final."""
    if status in FINAL_STATUSES or status in PENDING_STATUSES:
        return
    with _unknown_lock:
        if status in _unknown_statuses:
            return
        _unknown_statuses.add(status)
    log.warning("talkstack: unknown call status %r, treated as not final", status)


def _first(record: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = record.get(key)
        if value is not None and value != "":
            return value
    return None


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def _recording_urls(record: dict) -> list[str]:
    value = _first(record, RECORDING_KEYS)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [url for url in value if isinstance(url, str) and url]
    return []


def _variables(record: dict) -> dict:
    """Echoed dynamic variables: unknown top-level strings, then explicit containers on top."""
    found = {
        key: value
        for key, value in record.items()
        if key not in KNOWN_RECORD_KEYS and isinstance(value, str)
    }
    for key in VARIABLE_CONTAINER_KEYS:
        if isinstance(record.get(key), dict):
            found.update(record[key])
    return found

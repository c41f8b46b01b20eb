"""Simulated Talkstack calls: lifecycle, outcomes, record and webhook shapes, analysis answers.

A call's status is computed from the time elapsed since it was placed, so every read is
deterministic: queued → ringing → (in-progress, if answered) → final after `final_after`.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FINAL_STATUSES = frozenset(
    {"completed", "busy", "failed", "no-answer", "voicemail", "silence", "canceled"}
)
# Statuses where someone (or a voicemail box) picked up, so there is a duration and a recording.
CONNECTED_STATUSES = frozenset({"completed", "voicemail", "silence"})
RANDOM_OUTCOME_WEIGHTS = {
    "completed": 5, "busy": 1, "no-answer": 2, "voicemail": 1, "silence": 1, "failed": 1,
}  # fmt: skip
SECONDS_RANGE = {"completed": (20, 240), "voicemail": (12, 45), "silence": (7, 30)}
# Fractions of final_after at which the intermediate statuses start.
RINGING_AT = 0.25
IN_PROGRESS_AT = 0.5
COST_PER_MINUTE = 0.2
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/ACsim/Recordings/RE{hex}.mp3"
TEXT_ANSWERS = (
    "The contact was friendly and asked for more details by email.",
    "The contact said they are happy with their current provider.",
    "The contact asked to be called back next week.",
)
SENTIMENTS = ("positive", "neutral", "negative")


@dataclass
class Outcome:
    """A scripted final status for the next call(s) to a number."""

    status: str
    seconds: int | None = None
    answers: dict | None = None
    data: dict | None = None
    repeat: bool = True


@dataclass
class SimCall:
    sid: str
    number: str
    agent_id: str
    from_number: str
    variables: dict
    created_at: float  # wall clock, for `date` and history filters
    created_mono: float  # monotonic, for the lifecycle
    final_after: float
    final_status: str
    seconds: int
    recording_urls: list[str]
    data: dict
    answers: dict = field(default_factory=dict)
    source: str = "makeCall"
    batch_id: str | None = None
    generation: int = 0  # bumped by force_final so stale webhook events are skipped

    def timeline(self) -> list[tuple[float, str]]:
        """(offset in seconds, status) for every status the call goes through."""
        stages = [(0.0, "queued"), (self.final_after * RINGING_AT, "ringing")]
        if self.final_status in CONNECTED_STATUSES:
            stages.append((self.final_after * IN_PROGRESS_AT, "in-progress"))
        stages.append((self.final_after, self.final_status))
        return stages

    def status_at(self, now_mono: float) -> str:
        elapsed = now_mono - self.created_mono
        current = "queued"
        for offset, status in self.timeline():
            if elapsed >= offset:
                current = status
        return current

    def is_done(self, status: str) -> bool:
        """True when `status` is this call's settled final status (not a stuck pending one)."""
        return status == self.final_status and status in FINAL_STATUSES

    def summary(self, now_mono: float) -> dict:
        return {
            "sid": self.sid, "number": self.number, "agentId": self.agent_id,
            "variables": self.variables, "status": self.status_at(now_mono),
            "finalStatus": self.final_status, "seconds": self.seconds,
            "createdAt": self.created_at, "source": self.source, "batchId": self.batch_id,
        }  # fmt: skip


def settle(
    call: SimCall,
    status: str,
    rng: random.Random,
    *,
    seconds: int | None = None,
    data: dict | None = None,
) -> None:
    """Give `call` a final status with a matching duration, recording and extracted data."""
    call.final_status = status
    connected = status in CONNECTED_STATUSES
    if seconds is None:
        low, high = SECONDS_RANGE.get(status, (0, 0))
        seconds = rng.randint(low, high) if connected else 0
    call.seconds = seconds
    call.recording_urls = (
        [RECORDING_URL.format(hex=f"{rng.getrandbits(128):032x}")] if connected else []
    )
    call.data = dict(data) if data is not None else _default_data(status, rng)


def random_final_status(rng: random.Random) -> str:
    statuses = list(RANDOM_OUTCOME_WEIGHTS)
    return rng.choices(statuses, weights=list(RANDOM_OUTCOME_WEIGHTS.values()))[0]


def _default_data(status: str, rng: random.Random) -> dict:
    # Booleans arrive as strings in real records (reference §3.5.2).
    if status != "completed":
        return {}
    interested = rng.random() < 0.5
    return {
        "interested": "true" if interested else "false",
        "callbackRequested": "false" if interested else "true",
        "notes": "",
    }


def rfc2822(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC))


def render_record(call: SimCall, status: str) -> dict:
    """The bare Get-call-data shape as of `status`, with echoed variables as top-level keys."""
    done = call.is_done(status)
    seconds = call.seconds if done else 0
    record = {str(key): value for key, value in call.variables.items()}
    record.update(
        {
            "seconds": seconds,
            "cost": round(seconds / 60 * COST_PER_MINUTE, 3),
            "status": status,
            "from": call.from_number,
            "to": call.number,
            "date": rfc2822(call.created_at),
            "recordingUrls": list(call.recording_urls) if done else [],
            "phoneNumber": call.number,
            "callSid": call.sid,
            "data": dict(call.data) if done else {},
        }
    )
    return record


def render_form(call: SimCall, status: str) -> dict[str, str]:
    """A Twilio-style status callback (form fields)."""
    done = call.is_done(status)
    form = {
        "CallSid": call.sid, "CallStatus": status, "To": call.number, "From": call.from_number,
        "CallDuration": str(call.seconds if done else 0), "AccountSid": "ACsim",
        "Direction": "outbound-api",
    }  # fmt: skip
    if done and call.recording_urls:
        form["RecordingUrl"] = call.recording_urls[0]
    return form


def analysis_answers(call: SimCall, questions: list[dict], seed: object) -> dict:
    """The `data` of an analysis answer; calls nobody picked up have no answers."""
    if call.final_status not in CONNECTED_STATUSES:
        return {"answers": [], "summary": "No conversation took place.", "sentiment": "neutral"}
    answers = [
        {
            "question": q["question"],
            "type": q["type"],
            "answer": _answer(call, q, random.Random(f"{seed}|{call.sid}|{q['question']}")),
        }
        for q in questions
    ]
    rng = random.Random(f"{seed}|{call.sid}")
    return {
        "answers": answers,
        "sentiment": rng.choice(SENTIMENTS),
        "summary": f"The agent spoke with the contact for {call.seconds} seconds.",
    }


def _answer(call: SimCall, question: dict, rng: random.Random) -> object:
    if question["question"] in call.answers:
        return call.answers[question["question"]]
    kind = question["type"].lower()
    if kind == "boolean":
        return rng.choice(("Yes", "No"))
    if kind == "number":
        return rng.randint(0, 10)
    if kind == "selector":
        options = question.get("options") or [""]
        return rng.choice(list(options))
    return rng.choice(TEXT_ANSWERS)


def new_sid(prefix: str, rng: random.Random) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def now_pair() -> tuple[float, float]:
    return time.time(), time.monotonic()

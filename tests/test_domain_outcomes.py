import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.outcomes import (
    FINAL_STATUSES,
    HS_CALL_STATUS,
    OUTCOME_LABEL,
    FinalCall,
    action_failure_outputs,
    action_outputs,
    answer_value,
    contact_properties,
    engagement_properties,
)
from domain.rules_model import Question

STARTED = datetime(2024, 1, 30, 13, 39, 53, 250_000, tzinfo=UTC)
INTERESTED = Question("interested", "Is the contact interested?", "Boolean")
SEATS = Question("seats", "How many seats?", "Number")
REASON = Question("reason_code", "Why?", "Selector", ("Price", "Timing"), "hs_reason")
NOTES = Question("notes", "Anything else?", "Text")
QUESTIONS = (INTERESTED, SEATS, REASON, NOTES)


def final_call(**changes) -> FinalCall:
    values = dict(
        call_id="CA26e39c970fd416515799f5a165718be3",
        status="completed",
        seconds=23,
        started_at=STARTED,
        to_number="+12068091239",
        from_number="+14152148508",
        recording_urls=["https://api.twilio.com/Recordings/RE1.mp3"],
        data={"newDate": "2024-02-01", "employeeGoToWork": "false"},
        answers={"interested": "Yes", "seats": 12, "reason_code": "timing", "notes": "Call back"},
        agent_name="Sales agent",
        attempt=2,
    )
    values.update(changes)
    return FinalCall(**values)


# status → (hs_call_status, disposition GUID or None, outcome label)
STATUS_TABLE = {
    "completed": ("COMPLETED", "f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
    "voicemail": ("COMPLETED", "b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
    "silence": ("COMPLETED", "73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
    "busy": ("BUSY", "9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy"),
    "no-answer": ("NO_ANSWER", "73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
    "failed": ("FAILED", None, "Failed"),
    "canceled": ("CANCELED", None, "Failed"),
}


def test_tables_cover_exactly_the_final_statuses():
    assert set(FINAL_STATUSES) == set(STATUS_TABLE) == set(HS_CALL_STATUS) == set(OUTCOME_LABEL)


@pytest.mark.parametrize("status", list(STATUS_TABLE))
def test_status_mapping(status):
    hs_status, disposition, label = STATUS_TABLE[status]
    properties = engagement_properties(final_call(status=status), QUESTIONS)
    assert properties["hs_call_status"] == hs_status
    assert properties.get("hs_call_disposition") == disposition
    assert ("hs_call_disposition" in properties) == (disposition is not None)
    assert action_outputs(final_call(status=status), QUESTIONS, 1)["call_outcome"] == label


def test_engagement_properties():
    properties = engagement_properties(final_call(), QUESTIONS)
    body = properties.pop("hs_call_body")
    assert properties == {
        "hs_timestamp": "2024-01-30T13:39:53.250Z",
        "hs_call_title": "Talkstack AI call — Sales agent",
        "hs_call_direction": "OUTBOUND",
        "hs_call_status": "COMPLETED",
        "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
        "hs_call_duration": "23000",
        "hs_call_to_number": "+12068091239",
        "hs_call_from_number": "+14152148508",
        "hs_call_recording_url": "https://api.twilio.com/Recordings/RE1.mp3",
        "talkstack_call_id": "CA26e39c970fd416515799f5a165718be3",  # the unique idProperty
    }
    for text in (
        "Connected (completed)",
        "23 s",
        "Attempt",
        "2",
        "Is the contact interested?",
        "Yes",
        "How many seats?",
        "12",
        "newDate",
        "2024-02-01",
        "employeeGoToWork",
    ):
        assert text in body, text


def test_all_values_are_strings():
    for properties in (
        engagement_properties(final_call(), QUESTIONS),
        contact_properties(final_call(), QUESTIONS),
    ):
        assert all(isinstance(v, str) for v in properties.values())


def test_title_without_agent():
    assert engagement_properties(final_call(agent_name=None), ())["hs_call_title"] == (
        "Talkstack AI call"
    )


@pytest.mark.parametrize(
    ("started_at", "expected"),
    [
        (
            datetime(2024, 1, 30, 8, 39, 53, tzinfo=timezone(timedelta(hours=-5))),
            "2024-01-30T13:39:53.000Z",
        ),
        (datetime(2024, 1, 30, 13, 39, 53, 999_999), "2024-01-30T13:39:53.999Z"),  # naive = UTC
    ],
)
def test_timestamp_is_utc_iso_with_milliseconds(started_at, expected):
    call = final_call(started_at=started_at)
    assert engagement_properties(call, ())["hs_timestamp"] == expected
    assert contact_properties(call, ())["talkstack_last_call_at"] == expected


def test_start_time_is_required():
    with pytest.raises(ValueError, match="start time"):
        engagement_properties(final_call(started_at=None), ())


def test_non_final_status_is_rejected():
    with pytest.raises(ValueError, match="in-progress"):
        engagement_properties(final_call(status="in-progress"), ())
    with pytest.raises(ValueError):
        contact_properties(final_call(status="queued"), ())
    with pytest.raises(ValueError):
        action_outputs(final_call(status="ringing"), (), 1)


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (
            ["http://insecure/r.mp3", "https://secure/r.mp3", "https://second/r.mp3"],
            "https://secure/r.mp3",
        ),
        (["http://insecure/r.mp3"], None),
        ([], None),
        (["ftp://x", " HTTPS://upper/r.wav "], "HTTPS://upper/r.wav"),
    ],
)
def test_recording_url_is_the_first_https_url(urls, expected):
    call = final_call(recording_urls=urls)
    assert engagement_properties(call, ()).get("hs_call_recording_url") == expected
    assert action_outputs(call, (), 1).get("recording_url") == expected


def test_missing_numbers_are_omitted():
    properties = engagement_properties(final_call(to_number=None, from_number=""), ())
    assert "hs_call_to_number" not in properties
    assert "hs_call_from_number" not in properties


def test_duration_is_milliseconds_and_never_negative():
    assert engagement_properties(final_call(seconds=125), ())["hs_call_duration"] == "125000"
    assert engagement_properties(final_call(seconds=None), ())["hs_call_duration"] == "0"
    assert engagement_properties(final_call(seconds=-4), ())["hs_call_duration"] == "0"


def test_body_escapes_every_value():
    hostile = '<script>alert("x")</script>&'
    call = final_call(
        agent_name=hostile,
        data={hostile: hostile, "nested": {"a": ["<b>"]}},
        answers={"notes": hostile},
    )
    question = Question("notes", f"Q {hostile}", "Text")
    body = engagement_properties(call, [question])["hs_call_body"]
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in body
    assert "&lt;b&gt;" in body
    # agent name, question, answer, data key, data value
    assert body.count("&lt;script&gt;") == 5


def test_body_stays_under_hubspot_limit():
    data = {f"key{i}": "v" * 5000 for i in range(500)}
    body = engagement_properties(final_call(data=data), QUESTIONS)["hs_call_body"]
    assert len(body) < 65_536
    assert "460 more not shown" in body


def test_escaped_body_stays_under_the_limit_without_cutting_entities():
    many = [Question(f"q{i}", "<" * 300, "Text") for i in range(200)]
    call = final_call(
        data={f"<{i}>": "&" * 5000 for i in range(500)},
        answers={f"q{i}": '"' * 5000 for i in range(200)},
    )
    body = engagement_properties(call, many)["hs_call_body"]
    assert len(body) <= 65_536
    assert "Connected (completed)" in body
    assert body.endswith("<p>(more details were too long to show)</p>")
    assert not re.search(r"&[a-z]*…", body)  # no entity cut in half


def test_long_values_are_capped_after_escaping():
    body = engagement_properties(final_call(data={"k": "&" * 5000}), ())["hs_call_body"]
    assert "&amp;" * 99 + "…</li>" in body


def test_unanswered_question_is_shown_as_such():
    body = engagement_properties(final_call(answers={}), [NOTES])["hs_call_body"]
    assert "Anything else?:</strong> (no answer)" in body


def test_contact_properties():
    assert contact_properties(final_call(), QUESTIONS) == {
        "talkstack_last_call_status": "completed",
        "talkstack_last_call_at": "2024-01-30T13:39:53.250Z",
        "talkstack_last_call_id": "CA26e39c970fd416515799f5a165718be3",
        "talkstack_last_call_duration": "23",
        "talkstack_call_attempts": "2",
        "talkstack_interested": "true",
        "talkstack_seats": "12",
        "hs_reason": "Timing",
        "talkstack_notes": "Call back",
    }


@pytest.mark.parametrize(
    ("question", "answer", "expected"),
    [
        (INTERESTED, "Yes", "true"),
        (INTERESTED, "no", "false"),
        (INTERESTED, True, "true"),
        (INTERESTED, False, "false"),
        (INTERESTED, " TRUE ", "true"),
        (INTERESTED, "maybe", None),
        (INTERESTED, None, None),
        (SEATS, 3, "3"),
        (SEATS, 2.5, "2.5"),
        (SEATS, 4.0, "4"),
        (SEATS, "1,200", "1200"),
        (SEATS, " 7 ", "7"),
        (SEATS, "seven", None),
        (SEATS, float("nan"), None),
        (SEATS, True, None),
        (REASON, "Price", "Price"),
        (REASON, " price ", "Price"),
        (REASON, "Something else", None),
        (NOTES, "  text  ", "text"),
        (NOTES, 42, "42"),
        (NOTES, "", None),
    ],
)
def test_answer_conversion(question, answer, expected):
    assert answer_value(question, answer) == expected


def test_unconvertible_answers_do_not_clear_properties():
    call = final_call(answers={"interested": "maybe", "seats": None})
    properties = contact_properties(call, QUESTIONS)
    assert "talkstack_interested" not in properties
    assert "talkstack_seats" not in properties


def test_action_outputs():
    assert action_outputs(final_call(status="no-answer", seconds=0), QUESTIONS, 3) == {
        "hs_execution_state": "SUCCESS",
        "call_status": "no-answer",
        "call_outcome": "No answer",
        "duration_seconds": 0,
        "talkstack_call_id": "CA26e39c970fd416515799f5a165718be3",
        "recording_url": "https://api.twilio.com/Recordings/RE1.mp3",
        "attempts": 3,
        "interested": "true",
        "seats": 12,
        "reason_code": "Timing",
        "notes": "Call back",
    }


def test_number_outputs_keep_fractions():
    outputs = action_outputs(final_call(answers={"seats": "2.5"}), [SEATS], 1)
    assert outputs["seats"] == 2.5


def test_action_outputs_without_a_call():
    assert action_outputs(None, QUESTIONS, 2) == {"hs_execution_state": "SUCCESS", "attempts": 2}


def test_action_failure_outputs():
    assert action_failure_outputs("opted_out") == {
        "hs_execution_state": "FAIL_CONTINUE",
        "reason": "opted_out",
    }

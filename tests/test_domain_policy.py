"""The calling policy (SPEC §5) as a pure function."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from domain import policy
from domain.quiet_hours import QuietHours

NOW = datetime(2026, 12, 2, 15, 0)  # a Wednesday, 15:00 UTC
SETTINGS = policy.PolicySettings(
    region="US",
    do_not_call_properties=("talkstack_do_not_call", "hs_dnc"),
    cooldown=timedelta(hours=24),
    max_attempts=3,
)


def decide(props, **kwargs):
    kwargs.setdefault("attempts_so_far", 0)
    kwargs.setdefault("last_called_at", None)
    return policy.decide(props, kwargs.pop("settings", SETTINGS), now=NOW, **kwargs)


def test_a_good_number_is_callable_in_e164():
    decision = decide({"phone": "(415) 555-0100"})
    assert decision.callable_now and decision.number == "+14155550100"


def test_skip_codes():
    assert decide({}).skip_reason == "no_number"
    assert decide({"phone": "555"}).skip_reason == "invalid_number"
    assert decide({"phone": "4155550100", "hs_dnc": "true"}).skip_reason == "opted_out"
    assert decide({"phone": "4155550100", "talkstack_do_not_call": "false"}).callable_now
    assert decide({"phone": "4155550100"}, attempts_so_far=3).skip_reason == "max_attempts"


def test_cooldown_from_our_records_or_the_contact_property():
    recent = NOW - timedelta(hours=2)
    assert decide({"phone": "4155550100"}, last_called_at=recent).skip_reason == "cooldown"
    prop = {"phone": "4155550100", "talkstack_last_call_at": "2026-12-02T10:00:00.000Z"}
    assert decide(prop).skip_reason == "cooldown"
    epoch_ms = str(int((NOW - timedelta(hours=30)).timestamp() * 1000))
    assert decide({"phone": "4155550100", "talkstack_last_call_at": epoch_ms}).callable_now
    # A follow-up of the same trigger is not blocked by the cooldown.
    assert decide({"phone": "4155550100"}, last_called_at=recent, attempts_so_far=1).callable_now


def test_duplicate_numbers_in_a_batch_keep_the_first():
    taken: set[str] = set()
    first = decide({"phone": "(415) 555-0100"}, numbers_taken=taken)
    second = decide({"mobilephone": "+14155550100"}, numbers_taken=taken)
    assert first.callable_now and second.skip_reason == "duplicate"


def test_quiet_hours_defer_to_the_next_allowed_time_in_the_contacts_zone():
    quiet = QuietHours(
        start=time(9), end=time(17), days=frozenset(range(5)), default_tz="America/New_York"
    )
    settings = policy.PolicySettings(**{**SETTINGS.__dict__, "quiet_hours": quiet})
    # 15:00 UTC is 07:00 in Los Angeles: deferred to 09:00 PST = 17:00 UTC.
    decision = decide(
        {"phone": "4155550100", "hs_timezone": "america_slash_los_angeles"}, settings=settings
    )
    assert decision.skip_reason is None and not decision.callable_now
    assert decision.defer_until == datetime(2026, 12, 2, 17, 0)
    # 15:00 UTC is 10:00 in New York: allowed now.
    assert decide(
        {"phone": "4155550100", "hs_timezone": "america_slash_new_york"}, settings=settings
    ).callable_now


def test_properties_to_read_include_policy_and_variables():
    names = policy.properties_to_read(SETTINGS, ["firstname", "phone"])
    for name in (
        "phone",
        "mobilephone",
        "hs_timezone",
        "talkstack_do_not_call",
        "hs_dnc",
        "firstname",
    ):
        assert name in names
    assert len(names) == len(set(names))

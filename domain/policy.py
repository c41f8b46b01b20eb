"""The calling policy of SPEC §5: whom to call, now, later, or not at all.

Pure: the caller passes the contact's properties, what we know of earlier calls and the
clock; this returns a decision. Skip reason codes are the contract's, as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.phones import normalise_contact_number
from domain.quiet_hours import QuietHours

NO_NUMBER = "no_number"
INVALID_NUMBER = "invalid_number"
OPTED_OUT = "opted_out"
COOLDOWN = "cooldown"
DUPLICATE = "duplicate"
MAX_ATTEMPTS = "max_attempts"
QUIET_HOURS = "quiet_hours"
SKIP_REASONS = (NO_NUMBER, INVALID_NUMBER, OPTED_OUT, COOLDOWN, DUPLICATE, MAX_ATTEMPTS)

TRUE_VALUES = frozenset({"true", "yes", "1", "on"})
BASE_PROPERTIES = ("phone", "mobilephone", "hs_timezone", "talkstack_last_call_at")


@dataclass(frozen=True)
class PolicySettings:
    region: str
    do_not_call_properties: tuple[str, ...]
    cooldown: timedelta
    max_attempts: int
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Decision:
    number: str | None
    skip_reason: str | None = None
    defer_until: datetime | None = None  # naive UTC; set only with skip_reason None

    @property
    def callable_now(self) -> bool:
        return self.number is not None and self.skip_reason is None and self.defer_until is None


def properties_to_read(settings: PolicySettings, variable_properties) -> list[str]:
    wanted = [*BASE_PROPERTIES, *settings.do_not_call_properties, *variable_properties]
    return list(dict.fromkeys(wanted))


def is_true(value) -> bool:
    return str(value or "").strip().lower() in TRUE_VALUES


def _parse_hubspot_time(value) -> datetime | None:
    """HubSpot datetimes come as epoch ms or ISO-8601; return naive UTC."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def decide(
    properties: dict,
    settings: PolicySettings,
    *,
    now: datetime,
    attempts_so_far: int,
    last_called_at: datetime | None,
    numbers_taken: set[str] | None = None,
) -> Decision:
    """Decide for one contact. `attempts_so_far` > 0 means a follow-up of the same trigger,
    which the cooldown does not block. `numbers_taken` dedupes numbers within a batch."""
    if attempts_so_far >= settings.max_attempts:
        return Decision(None, MAX_ATTEMPTS)
    if any(is_true(properties.get(name)) for name in settings.do_not_call_properties):
        return Decision(None, OPTED_OUT)
    number = normalise_contact_number(
        properties.get("phone"), properties.get("mobilephone"), settings.region
    )
    if number.e164 is None:
        return Decision(None, number.reason)
    if numbers_taken is not None:
        if number.e164 in numbers_taken:
            return Decision(number.e164, DUPLICATE)
        numbers_taken.add(number.e164)
    if attempts_so_far == 0:
        recent = [
            t
            for t in (last_called_at, _parse_hubspot_time(properties.get("talkstack_last_call_at")))
            if t is not None
        ]
        if recent and now - max(recent) < settings.cooldown:
            return Decision(number.e164, COOLDOWN)
    if settings.quiet_hours is not None:
        allowed = settings.quiet_hours.next_allowed(
            now.replace(tzinfo=UTC), properties.get("hs_timezone")
        )
        if allowed is not None:
            return Decision(number.e164, None, allowed.astimezone(UTC).replace(tzinfo=None))
    return Decision(number.e164)

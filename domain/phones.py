"""Contact phone numbers → one dialable E.164 number (SPEC §5.2).

`phone` is tried first, then `mobilephone`; the first *valid* one wins, so a junk value in
`phone` does not hide a good mobile number.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

NO_NUMBER = "no_number"
INVALID_NUMBER = "invalid_number"


@dataclass(frozen=True)
class NumberDecision:
    """`e164` when a number can be dialled, else `reason` (a §5 skip code)."""

    e164: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def to_e164(raw: str | None, region: str) -> str | None:
    """E.164 form of `raw` (numbers without a country code read in `region`), or None."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_contact_number(phone: str | None, mobile: str | None, region: str) -> NumberDecision:
    """Pick the number to dial: `phone` if valid, else `mobile` if valid."""
    present = [value for value in (phone, mobile) if value and str(value).strip()]
    if not present:
        return NumberDecision(e164=None, reason=NO_NUMBER)
    for value in present:
        e164 = to_e164(str(value), region)
        if e164:
            return NumberDecision(e164=e164)
    return NumberDecision(e164=None, reason=INVALID_NUMBER)

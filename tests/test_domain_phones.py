import pytest

from domain.phones import NumberDecision, normalise_contact_number, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 650-253-0000", "US", "+16502530000"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("650.253.0000", "us", "+16502530000"),  # region is case-insensitive
        ("  +44 20 7946 0958 ", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("00 44 20 7946 0958", "DE", "+442079460958"),  # international prefix of the region
        ("+1 650 253 0000 ext. 12", "US", "+16502530000"),  # extension is not dialled
        ("020 7946 0958", "US", None),  # national UK number read as US: invalid
        ("12345", "US", None),
        ("not a number", "US", None),
        ("", "US", None),
        ("   ", "US", None),
        (None, "US", None),
        ("+16502530000", "", "+16502530000"),  # no region still reads +-prefixed numbers
    ],
)
def test_to_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


def test_phone_wins_when_valid():
    decision = normalise_contact_number("650 253 0000", "+44 20 7946 0958", "US")
    assert decision == NumberDecision(e164="+16502530000", reason=None)
    assert decision.ok


@pytest.mark.parametrize("phone", [None, "", "   "])
def test_falls_back_to_mobile_when_phone_is_empty(phone):
    decision = normalise_contact_number(phone, "+44 20 7946 0958", "US")
    assert decision.e164 == "+442079460958"
    assert decision.reason is None


def test_falls_back_to_mobile_when_phone_is_invalid():
    decision = normalise_contact_number("12345", "(650) 253-0000", "US")
    assert decision.e164 == "+16502530000"


@pytest.mark.parametrize(("phone", "mobile"), [(None, None), ("", ""), (" ", None), (None, "\t")])
def test_no_number_when_both_blank(phone, mobile):
    decision = normalise_contact_number(phone, mobile, "US")
    assert decision == NumberDecision(e164=None, reason="no_number")
    assert not decision.ok


@pytest.mark.parametrize(("phone", "mobile"), [("12345", None), (None, "abc"), ("1", "2")])
def test_invalid_number_when_present_but_unusable(phone, mobile):
    decision = normalise_contact_number(phone, mobile, "US")
    assert decision == NumberDecision(e164=None, reason="invalid_number")


def test_region_decides_how_national_numbers_are_read():
    assert normalise_contact_number("020 7946 0958", None, "GB").e164 == "+442079460958"
    assert normalise_contact_number("020 7946 0958", None, "US").reason == "invalid_number"


def test_decision_is_frozen():
    decision = normalise_contact_number("650 253 0000", None, "US")
    with pytest.raises(AttributeError):
        decision.e164 = "+1"

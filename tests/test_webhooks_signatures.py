"""HubSpot request signatures: published vectors, a mutation matrix, the v3 URI rule and
property tests (reference/hubspot.md §2)."""

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from webhooks.signatures import (
    MAX_SKEW_MS,
    SignatureError,
    sign_v1,
    sign_v2,
    sign_v3,
    signed_headers,
    v3_uri,
    verify_request,
)

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
TS = "1693657560000"
NOW = int(TS)
DOCS_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
SDK_BODY = b"{'example_field':'example_value'}"
JSON_BODY = b'{"example_field":"example_value"}'

# (version, method, uri, body, timestamp, expected) — reference/hubspot.md §2.3
OFFICIAL_VECTORS = [
    (
        "v1",
        "POST",
        URI,
        DOCS_BODY,
        None,
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
    ),
    (
        "v1",
        "POST",
        URI,
        SDK_BODY,
        None,
        "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
    ),
    (
        "v2",
        "GET",
        URI,
        b"",
        None,
        "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
    ),
    (
        "v2",
        "POST",
        URI,
        JSON_BODY,
        None,
        "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
    ),
    (
        "v2",
        "POST",
        URI,
        SDK_BODY,
        None,
        "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383",
    ),
    ("v3", "POST", URI, SDK_BODY, TS, "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="),
]
DERIVED_V3_VECTORS = [
    (URI, "ecWWq6SLunL3htE3leWhW3cjrE6R0rZmBOcQ2bf4D40="),
    (URI + "?portal=1&tag=a:b", "5I6JXcf0AOWMGhh8nOLohbGd6pqS9vP3JgrX4h4y7Q4="),
    (URI + "?portal=1&tag=a%3Ab", "5I6JXcf0AOWMGhh8nOLohbGd6pqS9vP3JgrX4h4y7Q4="),  # as requested
]


def sign(version, method, uri, body, timestamp):
    if version == "v1":
        return sign_v1(SECRET, body)
    if version == "v2":
        return sign_v2(SECRET, method, uri, body)
    return sign_v3(SECRET, method, uri, body, timestamp)


def headers_for(version, signature, timestamp=TS):
    if version == "v3":
        return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    return {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}


def verify(headers, *, secrets=(SECRET,), method="POST", uri=URI, body=DOCS_BODY, now=NOW, **kw):
    return verify_request(
        secrets=secrets,
        headers=Headers(headers),
        method=method,
        uri=uri,
        body=body,
        now_ms=now,
        **kw,
    )


def reason_of(headers, **kwargs) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(headers, **kwargs)
    assert caught.value.message == str(caught.value)
    return caught.value.reason


# --- known answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "method", "uri", "body", "timestamp", "expected"), OFFICIAL_VECTORS
)
def test_official_vectors(version, method, uri, body, timestamp, expected):
    assert sign(version, method, uri, body, timestamp) == expected
    headers = headers_for(version, expected, timestamp or TS)
    assert verify(headers, method=method, uri=uri, body=body) == version


@pytest.mark.parametrize(("uri", "expected"), DERIVED_V3_VECTORS)
def test_derived_v3_vectors(uri, expected):
    assert sign_v3(SECRET, "POST", uri, DOCS_BODY, TS) == expected
    assert verify(headers_for("v3", expected), uri=uri) == "v3"


def test_v2_method_is_upper_cased():
    assert sign_v2(SECRET, "get", URI, b"") == OFFICIAL_VECTORS[2][5]
    assert sign_v3(SECRET, "post", URI, SDK_BODY, TS) == OFFICIAL_VECTORS[5][5]


def test_hex_signature_case_does_not_matter():
    upper = OFFICIAL_VECTORS[0][5].upper()
    assert verify(headers_for("v1", upper)) == "v1"


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_signed_headers_round_trip(version):
    headers = signed_headers(SECRET, version, "POST", URI, DOCS_BODY, NOW)
    assert verify(headers) == version


# --- mutation matrix -----------------------------------------------------------------

V1_OK = headers_for("v1", sign_v1(SECRET, DOCS_BODY))
V2_OK = headers_for("v2", sign_v2(SECRET, "POST", URI, DOCS_BODY))
V3_OK = headers_for("v3", sign_v3(SECRET, "POST", URI, DOCS_BODY, TS))


def v3_at(timestamp: int) -> dict:
    return headers_for(
        "v3", sign_v3(SECRET, "POST", URI, DOCS_BODY, str(timestamp)), str(timestamp)
    )


def test_missing_signature_header():
    assert reason_of({}) == "missing_signature"
    assert reason_of({"X-HubSpot-Signature-Version": "v2"}) == "missing_signature"


@pytest.mark.parametrize("version", ["v0", "v3", "V9", "sha256"])
def test_unknown_version_of_the_old_header(version):
    headers = {
        "X-HubSpot-Signature": V1_OK["X-HubSpot-Signature"],
        "X-HubSpot-Signature-Version": version,
    }
    assert reason_of(headers) == "bad_version"


def test_version_label_must_match_the_signature():
    v2_labelled_v1 = {**V2_OK, "X-HubSpot-Signature-Version": "v1"}
    assert reason_of(v2_labelled_v1) == "bad_signature"
    assert verify({**V2_OK, "X-HubSpot-Signature-Version": "V2"}) == "v2"


def test_missing_or_empty_version_header_means_v1():
    assert verify({"X-HubSpot-Signature": V1_OK["X-HubSpot-Signature"]}) == "v1"
    assert verify({**V1_OK, "X-HubSpot-Signature-Version": ""}) == "v1"


@pytest.mark.parametrize("good", [V1_OK, V2_OK, V3_OK])
def test_bad_signature(good):
    header = next(k for k in good if "Signature" in k and "Version" not in k)
    tampered = {**good, header: good[header][:-2] + ("00" if good[header][-2:] != "00" else "11")}
    assert reason_of(tampered) == "bad_signature"
    assert reason_of({**good, header: ""}) == "bad_signature"


@pytest.mark.parametrize("good", [V1_OK, V2_OK, V3_OK])
def test_wrong_secret(good):
    assert reason_of(good, secrets=["zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]) == "bad_signature"


@pytest.mark.parametrize("good", [V1_OK, V2_OK, V3_OK])
def test_secret_rotation_second_secret_matches(good):
    assert verify(good, secrets=["old-secret", SECRET]) in ("v1", "v2", "v3")
    assert verify(good, secrets=[SECRET, "new-secret"]) in ("v1", "v2", "v3")
    assert verify(good, secrets=["", None, SECRET]) in ("v1", "v2", "v3")


def test_no_usable_secret_never_verifies():
    assert reason_of(V2_OK, secrets=[]) == "bad_signature"
    assert reason_of(V3_OK, secrets=["", None]) == "bad_signature"


def test_v2_binds_method_and_uri():
    assert reason_of(V2_OK, method="PUT") == "bad_signature"
    assert reason_of(V2_OK, uri=URI + "?x=1") == "bad_signature"


def test_stale_timestamp():
    assert reason_of(v3_at(NOW - MAX_SKEW_MS - 1)) == "stale_timestamp"
    assert reason_of(v3_at(NOW - 10 * MAX_SKEW_MS)) == "stale_timestamp"


def test_future_timestamp():
    assert reason_of(v3_at(NOW + MAX_SKEW_MS + 1)) == "future_timestamp"


def test_boundary_is_accepted_both_ways():
    assert MAX_SKEW_MS == 300_000
    assert verify(v3_at(NOW - 300_000)) == "v3"
    assert verify(v3_at(NOW + 300_000)) == "v3"


def test_timestamp_is_checked_before_the_signature():
    # A stale request with a valid signature is still refused (replay protection).
    stale = v3_at(NOW - 300_001)
    assert reason_of(stale) == "stale_timestamp"


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "1.6e12",
        "-1693657560000",
        " 1693657560000",
        "1693657560000 ",
        "0x1F",
        "+1693657560000",
    ],
)
def test_non_numeric_timestamp(timestamp):
    headers = headers_for("v3", sign_v3(SECRET, "POST", URI, DOCS_BODY, timestamp), timestamp)
    assert reason_of(headers) == "bad_timestamp"


def test_missing_timestamp():
    assert reason_of({"X-HubSpot-Signature-v3": V3_OK["X-HubSpot-Signature-v3"]}) == (
        "missing_timestamp"
    )
    assert reason_of({**V3_OK, "X-HubSpot-Request-Timestamp": ""}) == "missing_timestamp"


def test_v3_is_preferred_when_both_are_present():
    garbage_v2 = {"X-HubSpot-Signature": "00" * 32, "X-HubSpot-Signature-Version": "v2"}
    assert verify({**V3_OK, **garbage_v2}) == "v3"
    # A bad v3 is decisive: a valid v2 next to it does not rescue the request.
    bad_v3 = {**V3_OK, "X-HubSpot-Signature-v3": "AAAA"}
    assert reason_of({**bad_v3, **V2_OK}) == "bad_signature"


def test_allowed_versions():
    assert reason_of(V1_OK, allowed_versions=("v2", "v3")) == "bad_version"
    # Without v3 allowed, the old header is used even when a v3 header is present.
    both = {**V2_OK, "X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": "1"}
    assert verify(both, allowed_versions=("v1", "v2")) == "v2"


def test_header_names_are_case_insensitive():
    lower = Headers({k.lower(): v for k, v in V3_OK.items()})
    assert (
        verify_request(
            secrets=[SECRET], headers=lower, method="POST", uri=URI, body=DOCS_BODY, now_ms=NOW
        )
        == "v3"
    )
    upper_v = {
        "X-HubSpot-Signature-V3": V3_OK["X-HubSpot-Signature-v3"],
        "X-HubSpot-Request-Timestamp": TS,
    }
    assert verify(upper_v) == "v3"


def test_error_messages_never_contain_the_secret():
    for headers in (V1_OK, V3_OK, v3_at(NOW - 300_001), {}):
        try:
            verify(headers, secrets=["the-real-secret"])
        except SignatureError as error:
            assert "the-real-secret" not in str(error)


# --- robustness ------------------------------------------------------------------------


def test_a_single_secret_string_is_not_split_into_characters():
    forged = headers_for("v1", sign_v1("y", DOCS_BODY))
    with pytest.raises(SignatureError):
        verify(forged, secrets=SECRET)


@pytest.mark.parametrize("timestamp", ["¹⁶⁹³", "9" * 5000])
def test_odd_digit_timestamps_are_refused_not_crashing(timestamp):
    headers = {"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": timestamp}
    assert reason_of(headers) == "bad_timestamp"


def test_werkzeug_headers_match_names_case_insensitively():
    from werkzeug.datastructures import Headers

    lower = Headers([(k.lower(), v) for k, v in V3_OK.items()])
    assert (
        verify_request(
            secrets=[SECRET], headers=lower, method="POST", uri=URI, body=DOCS_BODY, now_ms=NOW
        )
        == "v3"
    )


# --- v3 URI decoding ------------------------------------------------------------------

DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
KEPT = ["%20", "%26", "%3D", "%2B", "%25", "%23"]


@pytest.mark.parametrize(("escape", "char"), sorted(DECODED.items()))
def test_v3_decodes_each_listed_escape(escape, char):
    assert v3_uri(f"https://h/p?q=a{escape}b") == f"https://h/p?q=a{char}b"
    assert v3_uri(f"https://h/p?q=a{escape.lower()}b") == f"https://h/p?q=a{char}b"


@pytest.mark.parametrize("escape", KEPT + [k.lower() for k in KEPT] + ["%41", "%7E", "%2"])
def test_v3_keeps_every_other_escape(escape):
    uri = f"https://h/p?q=a{escape}b"
    assert v3_uri(uri) == uri


def test_v3_decodes_once_only():
    assert v3_uri("https://h/p?q=%253A") == "https://h/p?q=%253A"
    assert v3_uri("https://h/a%2Fb?x=%3a%26y") == "https://h/a/b?x=:%26y"


def test_v3_signs_the_decoded_uri():
    raw = URI + "?tag=a%3Ab%26c"
    assert sign_v3(SECRET, "POST", raw, DOCS_BODY, TS) == sign_v3(
        SECRET, "POST", URI + "?tag=a:b%26c", DOCS_BODY, TS
    )
    assert sign_v3(SECRET, "POST", raw, DOCS_BODY, TS) != sign_v3(
        SECRET, "POST", URI + "?tag=a:b&c", DOCS_BODY, TS
    )


# --- properties -----------------------------------------------------------------------

HEADER_CHARS = string.digits + string.ascii_letters + string.punctuation + " \t"  # no CR/LF
URI_CHARS = string.ascii_letters + string.digits + "/:?&=%.-_~+@!$'()*,;"
uris = st.text(alphabet=URI_CHARS, max_size=60).map(lambda tail: "https://h.example/" + tail)
secrets = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=300)
timestamps = st.integers(1_000_000_000_000, 9_999_999_999_999)
methods = st.sampled_from(["POST", "GET", "PUT", "PATCH"])
versions = st.sampled_from(["v1", "v2", "v3"])


def prop_verify(headers, secret, method, uri, body, now):
    return verify_request(
        secrets=[secret], headers=Headers(headers), method=method, uri=uri, body=body, now_ms=now
    )


@settings(max_examples=200, deadline=None)
@given(version=versions, secret=secrets, method=methods, uri=uris, body=bodies, now=timestamps)
def test_what_is_signed_verifies(version, secret, method, uri, body, now):
    headers = signed_headers(secret, version, method, uri, body, now)
    assert prop_verify(headers, secret, method, uri, body, now) == version


@settings(max_examples=200, deadline=None)
@given(
    version=versions,
    secret=secrets,
    uri=uris,
    body=bodies.filter(bool),
    now=timestamps,
    data=st.data(),
)
def test_any_single_byte_change_to_the_body_fails(version, secret, uri, body, now, data):
    headers = signed_headers(secret, version, "POST", uri, body, now)
    index = data.draw(st.integers(0, len(body) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    tampered = body[:index] + bytes([new_byte]) + body[index + 1 :]
    with pytest.raises(SignatureError):
        prop_verify(headers, secret, "POST", uri, tampered, now)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(["v2", "v3"]),
    secret=secrets,
    uri=uris,
    body=bodies,
    now=timestamps,
    data=st.data(),
)
def test_any_single_byte_change_to_the_uri_fails(version, secret, uri, body, now, data):
    # v1 does not sign the URI. For v3 a change only counts when the *decoded* URI differs:
    # e.g. `%3a` → `%3A` (or `:` → the escape's first byte) is the same URI to HubSpot.
    headers = signed_headers(secret, version, "POST", uri, body, now)
    index = data.draw(st.integers(0, len(uri) - 1))
    new_char = data.draw(st.sampled_from(URI_CHARS).filter(lambda c: c != uri[index]))
    tampered = uri[:index] + new_char + uri[index + 1 :]
    if version == "v3":
        assume(v3_uri(tampered) != v3_uri(uri))
    with pytest.raises(SignatureError):
        prop_verify(headers, secret, "POST", tampered, body, now)


@settings(max_examples=200, deadline=None)
@given(secret=secrets, uri=uris, body=bodies, now=timestamps, data=st.data())
def test_any_single_byte_change_to_the_timestamp_fails(secret, uri, body, now, data):
    # Only v3 signs the timestamp. The clock stays at the original time, so a changed
    # timestamp fails either as out of window or, inside it, as a bad signature.
    headers = signed_headers(secret, "v3", "POST", uri, body, now)
    timestamp = headers["X-HubSpot-Request-Timestamp"]
    index = data.draw(st.integers(0, len(timestamp) - 1))
    new_char = data.draw(st.sampled_from(HEADER_CHARS).filter(lambda c: c != timestamp[index]))
    tampered = timestamp[:index] + new_char + timestamp[index + 1 :]
    with pytest.raises(SignatureError) as caught:
        prop_verify(
            {**headers, "X-HubSpot-Request-Timestamp": tampered}, secret, "POST", uri, body, now
        )
    if tampered.isdigit() and abs(int(tampered) - now) <= MAX_SKEW_MS:
        assert caught.value.reason == "bad_signature"


@given(uri=st.text(alphabet=URI_CHARS + "aAbBcCdDeEfF", max_size=80))
def test_v3_decoding_is_idempotent(uri):
    # Decoded characters are never hex digits, so decoding can not create a new escape.
    assert v3_uri(v3_uri(uri)) == v3_uri(uri)

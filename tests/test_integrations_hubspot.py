"""HubSpotClient against the HubSpot simulator over loopback."""

from __future__ import annotations

import logging
import socket
import time
import uuid

import pytest

from integrations.errors import (
    AmbiguousCallError,
    AuthError,
    ConflictError,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownPropertyError,
)
from integrations.hubspot import BatchOutcome, CallInput, HubSpotClient
from integrations.ratelimit import RateLimiter
from tests.conftest import wait_for

FAST_TIMEOUT = (1, 0.3)
ACTION = {
    "actionUrl": "https://connector.example.com/webhooks/hubspot/actions/call",
    "objectTypes": ["CONTACT"],
    "published": False,
    "labels": {"en": {"actionName": "Call with Talkstack AI"}},
    "functions": [],
}


class SleepRecorder:
    """Injected as the client's sleep: records waits, optionally really sleeping."""

    def __init__(self, real: bool = False) -> None:
        self.calls: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            time.sleep(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


def make_client(sim, sleep=None, **overrides) -> HubSpotClient:
    options = {
        "access_token": sim.access_token,
        "base_url": sim.url,
        "developer_api_key": sim.developer_api_key,
        "timeout": FAST_TIMEOUT,
        "sleep": sleep or SleepRecorder(),
    }
    return HubSpotClient(**{**options, **overrides})


def paths(sim) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests]


# --- contacts and lists -------------------------------------------------------------


def test_read_contacts_chunks_by_100_and_omits_unknown_ids(sim):
    ids = sim.add_contacts({"firstname": f"F{i}", "phone": f"+1555{i:07d}"} for i in range(250))

    found = make_client(sim).read_contacts([*ids, ids[0], "999999"], ["firstname", "phone"])

    assert paths(sim) == ["POST /crm/v3/objects/contacts/batch/read"] * 3
    assert [len(r.json["inputs"]) for r in sim.requests] == [100, 100, 51]
    assert set(found) == set(ids)
    assert found[ids[7]]["firstname"] == "F7" and found[ids[7]]["phone"] == "+15550000007"


def test_search_pages_and_finds_contacts_by_phone(sim):
    ids = sim.add_contacts({"firstname": "Same", "lastname": str(i)} for i in range(25))
    sim.add_contacts(
        [{"phone": "+1 (555) 777-0000"}, {"mobilephone": "+15557770000"}, {"phone": "+15551112222"}]
    )
    client = make_client(sim)
    same = [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Same"}]}]

    first = client.search_contacts(same, ["lastname"], limit=10)
    pages = list(client.iter_search_contacts(same, ["lastname"], page_size=10))
    by_phone = client.find_contact_ids_by_phone("+15557770000")

    assert (
        first.total == 25
        and first.after == "10"
        and first.results[0] == (ids[0], first.results[0][1])
    )
    assert first.results[0][1]["lastname"] == "0"
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [contact_id for page in pages for contact_id, _ in page] == ids
    assert by_phone == [str(int(ids[-1]) + 1), str(int(ids[-1]) + 2)]


def test_iter_search_continues_past_the_10000_result_cap(sim):
    ids = sim.add_contacts({"firstname": "Bulk"} for _ in range(10_050))
    client = make_client(sim)
    bulk = [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Bulk"}]}]

    seen = [
        cid
        for page in client.iter_search_contacts(bulk, ["firstname"], page_size=200)
        for cid, _ in page
    ]

    assert seen == ids
    assert all(r.status == 200 for r in sim.requests)
    floors = [
        f
        for r in sim.requests
        for f in r.json["filterGroups"][0]["filters"]
        if f["propertyName"] == "hs_object_id"
    ]
    assert floors == [{"propertyName": "hs_object_id", "operator": "GT", "value": ids[9_999]}]


def test_list_member_ids_page_by_250(sim):
    ids = sim.add_contacts({"firstname": f"L{i}"} for i in range(600))
    list_id = sim.add_list(ids)

    pages = list(make_client(sim).iter_list_member_ids(list_id))

    assert [len(page) for page in pages] == [250, 250, 100]
    assert [i for page in pages for i in page] == ids
    with pytest.raises(PermanentError) as raised:
        list(make_client(sim).iter_list_member_ids("404404"))
    assert raised.value.status == 404


def test_update_contacts_chunks_merges_duplicates_and_reports_unknown_ids(sim):
    ids = sim.add_contacts({"firstname": f"U{i}"} for i in range(150))
    updates = [(i, {"firstname": "New"}) for i in ids] + [
        (ids[0], {"lastname": "Last"}),
        ("424242", {"firstname": "x"}),
    ]

    outcome = make_client(sim).update_contacts(updates)

    assert outcome.requests == 2
    assert set(outcome.results) == set(ids)
    assert [key for key, _ in outcome.errors] == ["424242"]
    assert "OBJECT_NOT_FOUND" in outcome.errors[0][1]
    assert sim.contacts[ids[0]]["firstname"] == "New" and sim.contacts[ids[0]]["lastname"] == "Last"


# --- engagements --------------------------------------------------------------------


def test_create_calls_chunks_and_maps_trace_ids_to_ids(sim):
    contacts = sim.add_contacts({"firstname": f"C{i}"} for i in range(150))
    inputs = [
        CallInput(f"trace-{i}", {"hs_timestamp": "1700000000000", "hs_call_duration": 1000 * i}, c)
        for i, c in enumerate(contacts)
    ]
    inputs.append(CallInput("trace-bad", {"hs_call_title": "no timestamp"}, contacts[0]))

    outcome = make_client(sim).create_calls(inputs)

    assert outcome.requests == 2
    assert len(outcome.results) == 150
    assert outcome.errors == [
        ("trace-bad", "VALIDATION_ERROR: Property values were not valid: hs_timestamp is required")
    ]
    created = sim.calls[outcome.results["trace-3"]]
    assert created == {
        "properties": {"hs_timestamp": "1700000000000", "hs_call_duration": "3000"},
        "associations": [contacts[3]],
    }
    assert sim.requests[0].json["inputs"][0]["associations"][0]["types"] == [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}
    ]


def test_update_calls_note_and_default_associations(sim):
    contact, other = sim.add_contacts([{"firstname": "A"}, {"firstname": "B"}])
    client = make_client(sim)
    call_id = client.create_calls([CallInput("t", {"hs_timestamp": "1"}, None)]).results["t"]

    updated = client.update_calls([(call_id, {"hs_call_body": "<p>done</p>"})])
    client.associate_calls_to_contacts([(call_id, contact), (call_id, other)])
    note_id = client.create_note(contact, "<b>hello</b>", 1_700_000_000_000)

    assert updated.results == {call_id: call_id} and updated.errors == []
    assert sim.calls[call_id] == {
        "properties": {"hs_timestamp": "1", "hs_call_body": "<p>done</p>"},
        "associations": [contact, other],
    }
    assert sim.notes[note_id] == {
        "properties": {"hs_note_body": "<b>hello</b>", "hs_timestamp": "1700000000000"},
        "associations": [contact],
    }
    assert ("notes", note_id, "contacts", contact, 202) in sim.associations


UNIQUE_CALL_ID = {"name": "talkstack_call_id", "label": "Talkstack call ID", "type": "string",
                  "fieldType": "text", "groupName": "callinformation", "hasUniqueValue": True}


def test_find_calls_by_a_unique_property_value(sim):
    client = make_client(sim)
    assert client.ensure_properties([UNIQUE_CALL_ID], object_type="calls") == ["talkstack_call_id"]
    created = client.create_calls(
        [CallInput(f"t{i}", {"hs_timestamp": "1", "talkstack_call_id": f"CA{i}"}, None)
         for i in range(3)]).results

    found = client.find_calls("talkstack_call_id", ["CA0", "CA2", "CA-missing", "CA0"])

    assert found == {"CA0": created["t0"], "CA2": created["t2"]}
    [read] = [r for r in sim.requests if r.path == "/crm/v3/objects/calls/batch/read"]
    assert read.json["idProperty"] == "talkstack_call_id"
    assert [i["id"] for i in read.json["inputs"]] == ["CA0", "CA2", "CA-missing"]


def test_a_repeated_unique_value_is_a_conflict_error(sim, sleeps):
    client = make_client(sim, sleep=sleeps)
    client.ensure_properties([UNIQUE_CALL_ID], object_type="calls")
    client.create_calls([CallInput("a", {"hs_timestamp": "1", "talkstack_call_id": "CA1"}, None)])

    with pytest.raises(ConflictError) as raised:
        client.create_calls([
            CallInput("b", {"hs_timestamp": "1", "talkstack_call_id": "CA2"}, None),
            CallInput("c", {"hs_timestamp": "1", "talkstack_call_id": "CA1"}, None),
        ])

    assert raised.value.status == 409 and "CONFLICT" in str(raised.value)
    assert len(sim.calls) == 1  # the whole batch was refused
    assert sleeps.calls == []  # not retried: it would be refused again


def test_an_undefined_property_names_itself_in_the_error(sim, sleeps):
    client = make_client(sim, sleep=sleeps)
    with pytest.raises(UnknownPropertyError) as raised:
        client.create_calls([CallInput("a", {"hs_timestamp": "1", "talkstack_call_id": "C"}, None)])
    with pytest.raises(UnknownPropertyError) as by_id_property:
        client.find_calls("talkstack_call_id", ["C"])

    assert raised.value.properties == ("talkstack_call_id",)
    assert by_id_property.value.properties == ("talkstack_call_id",)
    assert sim.calls == {} and sleeps.calls == []


# --- retries and errors -------------------------------------------------------------


def test_429_honours_retry_after_then_succeeds(sim):
    contact = sim.add_contact(firstname="A")
    sim.set_rate_limit(2, 1.0)
    sleeps = SleepRecorder(real=True)
    client = make_client(sim, sleep=sleeps)

    client.check_access()
    client.check_access()
    found = client.read_contacts([contact], ["firstname"])

    assert [r.status for r in sim.requests] == [200, 200, 429, 200]
    assert sleeps.calls == [1.0]  # the simulator's Retry-After
    assert found[contact]["firstname"] == "A"


def test_429_pauses_the_shared_limiter(sim, sleeps):
    waits: list[float] = []
    limiter = RateLimiter(100, 10, key=f"t-{uuid.uuid4().hex}", on_wait=waits.append)
    sim.fail_next(1, 429, delay_seconds=1)

    make_client(sim, sleep=sleeps, rate_limiter=limiter).check_access()

    assert sleeps.calls == [1.0]
    assert len(waits) == 1 and 0.8 < waits[0] <= 1.0  # the client's own sleep was faked
    assert [r.status for r in sim.requests] == [429, 200]


def test_long_retry_after_is_raised_for_the_queue_to_reschedule(sim, sleeps):
    sim.fail_next(1, 429, delay_seconds=3600)
    with pytest.raises(RateLimited) as raised:
        make_client(sim, sleep=sleeps).check_access()
    assert raised.value.retry_after == 3600 and sleeps.calls == []


def test_5xx_is_retried_with_backoff(sim, sleeps):
    contact = sim.add_contact(firstname="A")
    sim.fail_next(2, 503)

    outcome = make_client(sim, sleep=sleeps).update_contacts([(contact, {"firstname": "B"})])

    assert outcome.requests == 3 and outcome.results == {contact: contact}
    assert len(sleeps.calls) == 2 and all(0 < s <= 8 for s in sleeps.calls)
    assert sim.contacts[contact]["firstname"] == "B"


def test_5xx_gives_up_after_max_retries_with_a_transient_error(sim, sleeps):
    sim.fail_next(10, 500)
    with pytest.raises(TransientError) as raised:
        make_client(sim, sleep=sleeps, max_retries=2).read_contacts(["1"], [])
    assert raised.value.status == 500 and len(sim.requests) == 3


def test_read_timeout_is_retried_for_reads(sim, sleeps):
    contact = sim.add_contact(firstname="A")
    sim.fail_next(1, "timeout", delay_seconds=0.6)

    found = make_client(sim, sleep=sleeps).read_contacts([contact], ["firstname"])

    assert found[contact]["firstname"] == "A" and len(sleeps.calls) == 1
    wait_for(lambda: len(sim.requests) == 2)


def test_read_timeout_on_create_is_ambiguous_and_not_retried(sim, sleeps):
    sim.fail_next(1, "timeout", delay_seconds=0.6, apply=True)  # HubSpot applied it, answered late

    with pytest.raises(AmbiguousCallError):
        make_client(sim, sleep=sleeps).create_calls([CallInput("t-1", {"hs_timestamp": "1"})])

    assert sleeps.calls == []
    wait_for(lambda: sim.requests)
    assert len(sim.requests) == 1 and len(sim.calls) == 1  # a retry would have duplicated it


def test_connection_refused_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the client connects
    client = HubSpotClient(
        access_token="t", base_url=f"http://127.0.0.1:{port}", max_retries=1, sleep=lambda s: None
    )
    with pytest.raises(TransientError, match="could not connect"):
        client.check_access()


def test_an_ssl_failure_is_a_transient_error_not_an_sdk_crash(sim, sleeps):
    # https:// to the plain-HTTP simulator: the TLS handshake fails (wrong version number).
    client = make_client(sim, sleep=sleeps, base_url=sim.url.replace("http://", "https://"),
                         max_retries=1)

    with pytest.raises(TransientError) as raised:
        client.read_contacts(["1"], ["firstname"])

    assert raised.value.status is None and "SSL" in str(raised.value)
    assert "\n" not in str(raised.value) and sim.access_token not in str(raised.value)
    assert len(sleeps.calls) == 1  # retried once, like any connection failure


def test_401_is_an_auth_error_without_the_token_and_without_retry(sim, sleeps):
    client = make_client(sim, sleep=sleeps, access_token="pat-na1-secret-token")
    with pytest.raises(AuthError) as raised:
        client.read_contacts(["1"], [])
    assert raised.value.status == 401 and "INVALID_AUTHENTICATION" in str(raised.value)
    assert "pat-na1-secret-token" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert len(sim.requests) == 1 and sleeps.calls == []


def test_400_is_a_permanent_error_and_keeps_earlier_chunks(sim, sleeps):
    ids = sim.add_contacts({"firstname": str(i)} for i in range(150))
    updates = [(i, {"firstname": "ok"}) for i in ids[:100]] + [
        (i, {"not_a_property": "x"}) for i in ids[100:]
    ]

    with pytest.raises(PermanentError) as raised:
        make_client(sim, sleep=sleeps).update_contacts(updates)

    assert raised.value.status == 400 and "VALIDATION_ERROR" in str(raised.value)
    partial = raised.value.partial_outcome
    assert (
        isinstance(partial, BatchOutcome) and len(partial.results) == 100 and partial.requests == 2
    )
    assert sleeps.calls == []


# --- setup, callbacks, action definitions -------------------------------------------


def test_ensure_group_and_properties_are_idempotent(sim):
    client = make_client(sim)
    definitions = [
        {
            "name": "talkstack_last_call_id",
            "label": "Last call id",
            "type": "string",
            "fieldType": "text",
            "groupName": "talkstack",
        },
        {
            "name": "talkstack_do_not_call",
            "label": "Do not call",
            "type": "bool",
            "fieldType": "booleancheckbox",
            "groupName": "talkstack",
            "options": [{"label": "Yes", "value": "true", "displayOrder": 0}],
        },
        {
            "name": "firstname",
            "label": "First",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
    ]

    assert client.ensure_property_group("talkstack", "Talkstack AI calls") is True
    assert client.ensure_properties(definitions) == [
        "talkstack_last_call_id",
        "talkstack_do_not_call",
    ]
    posts_after_first_run = [p for p in paths(sim) if p.startswith("POST")]
    assert client.ensure_property_group("talkstack", "Talkstack AI calls") is False
    assert client.ensure_properties(definitions) == []

    assert [p for p in paths(sim) if p.startswith("POST")] == posts_after_first_run
    assert sim.properties["talkstack_do_not_call"]["options"][0]["value"] == "true"
    assert {"talkstack_last_call_id", "phone"} <= client.get_property_names()


def test_complete_callbacks_single_and_batched(sim):
    client = make_client(sim)
    client.complete_callback("cb-0", {"hs_execution_state": "SUCCESS", "call_status": "completed"})
    client.complete_callbacks(
        [(f"cb-{i}", {"hs_execution_state": "FAIL_CONTINUE"}) for i in range(1, 151)]
    )

    assert (
        paths(sim)
        == ["POST /automation/v4/actions/callbacks/cb-0/complete"]
        + ["POST /automation/v4/actions/callbacks/complete"] * 2
    )
    assert sim.callback_completions[0] == (
        "cb-0",
        {"hs_execution_state": "SUCCESS", "call_status": "completed"},
    )
    assert [c for c, _ in sim.callback_completions] == [f"cb-{i}" for i in range(151)]


def test_upsert_action_definition_creates_then_patches(sim, caplog):
    client = make_client(sim)
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        first = client.upsert_action_definition(str(sim.app_id), ACTION)
        second = client.upsert_action_definition(str(sim.app_id), {**ACTION, "published": True})

    assert first == second and len(sim.action_definitions) == 1
    assert (
        sim.action_definitions[first]["published"] is True
        and sim.action_definitions[first]["revisionId"] == "2"
    )
    assert [p.split("/")[-1] for p in paths(sim)] == [str(sim.app_id)] * 3 + [first]
    client_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    assert "hapikey=***" in client_log and sim.developer_api_key not in client_log


def test_action_definition_needs_the_developer_key(sim):
    with pytest.raises(AuthError):
        make_client(sim, developer_api_key=None).upsert_action_definition(str(sim.app_id), ACTION)
    assert sim.requests == []


def test_check_access(sim):
    make_client(sim).check_access()
    with pytest.raises(AuthError):
        make_client(sim, access_token="wrong").check_access()
    assert [r.status for r in sim.requests] == [200, 401]


# --- rate limiting ------------------------------------------------------------------


def test_shared_limiter_keeps_the_client_under_hubspot_limit(sim):
    sim.set_rate_limit(5, 0.9)  # a slightly shorter window absorbs loopback latency jitter
    limiter = RateLimiter(5, 1, key=f"t-{uuid.uuid4().hex}")
    client = make_client(sim, rate_limiter=limiter)
    started = time.monotonic()

    for _ in range(12):
        client.check_access()

    assert time.monotonic() - started >= 1.9  # 12 requests at 5/s need two full windows
    assert all(r.status == 200 for r in sim.requests)
    assert sim.max_requests_in_window(0.9) <= 5

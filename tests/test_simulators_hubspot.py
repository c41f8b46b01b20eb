"""The HubSpot simulator, driven by the official SDK over loopback (as the connector does)."""

from __future__ import annotations

import json
import time
import tracemalloc

import hubspot
import pytest
import requests
import urllib3
from flask import Flask, request
from hubspot.automation.actions import (
    BatchInputCallbackCompletionBatchRequest,
    CallbackCompletionBatchRequest,
    CallbackCompletionRequest,
)
from hubspot.crm import contacts as contacts_sdk
from hubspot.crm.associations import v4 as associations_sdk
from hubspot.crm.objects import calls as calls_sdk
from hubspot.crm.objects import notes as notes_sdk
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from simulators.hubspot import HubSpotSimulator
from simulators.server import serve
from tests.conftest import wait_for
from webhooks.signatures import SignatureError, verify_request

TIMEOUT = (2, 5)


def sdk(sim, **overrides):
    options = {
        "access_token": sim.access_token,
        "api_key": sim.developer_api_key,
        "host": sim.url,
        "retry": False,
    }
    return hubspot.Client.create(**{**options, **overrides})


def body_of(exc) -> dict:
    return json.loads(exc.body)


def call_input(trace_id, contact_id=None, **properties):
    associations = []
    if contact_id is not None:
        spec = calls_sdk.AssociationSpec(
            association_category="HUBSPOT_DEFINED", association_type_id=194
        )
        associations = [
            calls_sdk.PublicAssociationsForObject(
                to=calls_sdk.PublicObjectId(id=contact_id), types=[spec]
            )
        ]
    return calls_sdk.SimplePublicObjectBatchInputForCreate(
        properties=properties, associations=associations, object_write_trace_id=trace_id
    )


def create_calls(sim, inputs):
    request_body = calls_sdk.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    return sdk(sim).crm.objects.calls.batch_api.create_with_http_info(
        request_body, _request_timeout=TIMEOUT
    )


def batch_read(sim, ids, properties=("firstname",)):
    request_body = contacts_sdk.BatchReadInputSimplePublicObjectId(
        inputs=[contacts_sdk.SimplePublicObjectId(id=i) for i in ids],
        properties=list(properties),
        properties_with_history=[],
    )
    return sdk(sim).crm.contacts.batch_api.read_with_http_info(
        request_body, _request_timeout=TIMEOUT
    )


def search(sim, groups, *, limit=100, after=None, properties=("firstname",)):
    request_body = contacts_sdk.PublicObjectSearchRequest(
        filter_groups=groups, properties=list(properties), limit=limit, after=after
    )
    return sdk(sim).crm.contacts.search_api.do_search(request_body, _request_timeout=TIMEOUT)


# --- objects ------------------------------------------------------------------------


def test_calls_batch_create_201_keeps_trace_ids_and_inline_associations(sim):
    contact = sim.add_contact(firstname="Ada")
    data, status, _ = create_calls(
        sim, [call_input("t-1", contact, hs_timestamp="1700000000000", hs_call_title="A")]
    )

    assert status == 201
    assert isinstance(data, calls_sdk.BatchResponseSimplePublicObject)
    (created,) = data.results
    assert created.object_write_trace_id == "t-1"
    assert sim.calls[created.id] == {
        "properties": {"hs_timestamp": "1700000000000", "hs_call_title": "A"},
        "associations": [contact],
    }
    assert ("calls", created.id, "contacts", contact, 194) in sim.associations


def test_calls_batch_create_207_names_bad_inputs_by_trace_id(sim):
    contact = sim.add_contact(firstname="Ada")
    inputs = [
        call_input("good", contact, hs_timestamp="1700000000000"),
        call_input("no-timestamp", contact, hs_call_title="x"),
        call_input("no-contact", "999999", hs_timestamp="1700000000000"),
    ]
    data, status, _ = create_calls(sim, inputs)

    assert status == 207
    assert isinstance(data, calls_sdk.BatchResponseSimplePublicObjectWithErrors)
    assert [r.object_write_trace_id for r in data.results] == ["good"]
    assert sorted(e.context["objectWriteTraceId"][0] for e in data.errors) == [
        "no-contact",
        "no-timestamp",
    ]
    assert data.num_errors == 2
    assert len(sim.calls) == 1


def define_unique_call_property(sim, name="talkstack_call_id", unique=True):
    body = PropertyCreate(name=name, label=name, type="string", field_type="text",
                          group_name="callinformation", has_unique_value=unique)
    sdk(sim).crm.properties.core_api.create("calls", body, _request_timeout=TIMEOUT)


def read_calls_by(sim, id_property, values):
    request_body = calls_sdk.BatchReadInputSimplePublicObjectId(
        inputs=[calls_sdk.SimplePublicObjectId(id=v) for v in values],
        properties=[id_property], properties_with_history=[], id_property=id_property,
    )
    return sdk(sim).crm.objects.calls.batch_api.read_with_http_info(
        request_body, _request_timeout=TIMEOUT
    )


def test_calls_undefined_property_is_400_property_doesnt_exist(sim):
    with pytest.raises(calls_sdk.ApiException) as raised:
        create_calls(sim, [call_input("t", hs_timestamp="1", talkstack_call_id="CA1")])

    assert raised.value.status == 400
    [error] = body_of(raised.value)["errors"]
    assert error["code"] == "PROPERTY_DOESNT_EXIST"
    assert error["context"] == {"propertyName": ["talkstack_call_id"]}
    assert sim.calls == {}


def test_unique_call_property_refuses_a_second_record_with_409(sim):
    define_unique_call_property(sim)
    create_calls(sim, [call_input("a", hs_timestamp="1", talkstack_call_id="CA1")])
    [first_id] = sim.calls

    for inputs in ([call_input("b", hs_timestamp="1", talkstack_call_id="CA2"),
                    call_input("c", hs_timestamp="1", talkstack_call_id="CA1")],
                   [call_input("d", hs_timestamp="1", talkstack_call_id="CA3"),
                    call_input("e", hs_timestamp="1", talkstack_call_id="CA3")]):
        with pytest.raises(calls_sdk.ApiException) as raised:
            create_calls(sim, inputs)
        assert raised.value.status == 409
        assert body_of(raised.value)["category"] == "CONFLICT"
    assert list(sim.calls) == [first_id]  # each refused batch created nothing

    update = calls_sdk.BatchInputSimplePublicObjectBatchInput(inputs=[
        calls_sdk.SimplePublicObjectBatchInput(id=first_id, properties={
            "talkstack_call_id": "CA1", "hs_call_title": "same value, same record"})])
    sdk(sim).crm.objects.calls.batch_api.update(update, _request_timeout=TIMEOUT)
    assert sim.calls[first_id]["properties"]["hs_call_title"] == "same value, same record"


def test_calls_batch_read_by_unique_id_property(sim):
    define_unique_call_property(sim)
    define_unique_call_property(sim, name="plain_text", unique=False)
    create_calls(sim, [call_input(f"t{i}", hs_timestamp="1", talkstack_call_id=f"CA{i}")
                       for i in range(2)])
    by_value = {p["talkstack_call_id"]: i for i, p in
                ((i, c["properties"]) for i, c in sim.calls.items())}

    data, status, _ = read_calls_by(sim, "talkstack_call_id", ["CA1", "CA9"])

    assert status == 207
    assert [(r.id, r.properties["talkstack_call_id"]) for r in data.results] == [
        (by_value["CA1"], "CA1")]
    assert data.errors[0].context == {"ids": ["CA9"]}
    for id_property, status in (("plain_text", 400), ("nonexistent", 400)):
        with pytest.raises(calls_sdk.ApiException) as raised:
            read_calls_by(sim, id_property, ["CA1"])
        assert raised.value.status == status


def test_contacts_batch_read_200_then_207_for_unknown_ids(sim):
    known = sim.add_contacts([{"firstname": "Ada"}, {"firstname": "Bob"}])
    data, status, _ = batch_read(sim, known)
    assert status == 200
    assert {r.id: r.properties["firstname"] for r in data.results} == dict(
        zip(known, ["Ada", "Bob"], strict=True)
    )

    data, status, _ = batch_read(sim, [known[0], "424242"])
    assert status == 207
    assert [r.id for r in data.results] == [known[0]]
    assert data.errors[0].category == "OBJECT_NOT_FOUND"
    assert data.errors[0].context == {"ids": ["424242"]}


def test_contacts_batch_update_applies_clears_and_rejects_unknown_properties(sim):
    contact = sim.add_contact(firstname="Ada", company="Acme")
    api = sdk(sim).crm.contacts.batch_api
    update = contacts_sdk.BatchInputSimplePublicObjectBatchInput(
        inputs=[
            contacts_sdk.SimplePublicObjectBatchInput(
                id=contact, properties={"firstname": "Ada L", "company": ""}
            )
        ]
    )
    _, status, _ = api.update_with_http_info(update, _request_timeout=TIMEOUT)
    assert status == 200
    assert sim.contacts[contact]["firstname"] == "Ada L"
    assert "company" not in sim.contacts[contact]

    update.inputs[0].properties = {"talkstack_never_defined": "x"}
    with pytest.raises(contacts_sdk.ApiException) as raised:
        api.update(update, _request_timeout=TIMEOUT)
    assert raised.value.status == 400
    assert body_of(raised.value)["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


@pytest.mark.parametrize("endpoint", ["contacts read", "calls create", "callbacks complete"])
def test_more_than_100_batch_inputs_is_a_400_validation_error(sim, endpoint):
    client = sdk(sim)
    with pytest.raises(Exception) as raised:
        if endpoint == "contacts read":
            batch_read(sim, [str(i) for i in range(101)])
        elif endpoint == "calls create":
            create_calls(sim, [call_input(f"t{i}", hs_timestamp="1") for i in range(101)])
        else:
            inputs = [
                CallbackCompletionBatchRequest(callback_id=f"c{i}", output_fields={})
                for i in range(101)
            ]
            client.automation.actions.callbacks_api.complete_batch(
                BatchInputCallbackCompletionBatchRequest(inputs=inputs), _request_timeout=TIMEOUT
            )
    assert raised.value.status == 400
    assert body_of(raised.value)["category"] == "VALIDATION_ERROR"
    assert sim.calls == {} and sim.callback_completions == []


def test_notes_create_201_and_v4_default_associations_200(sim):
    contact, other = sim.add_contacts([{"firstname": "Ada"}, {"firstname": "Bob"}])
    spec = notes_sdk.AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=202
    )
    note = notes_sdk.SimplePublicObjectInputForCreate(
        properties={"hs_note_body": "<p>hi</p>", "hs_timestamp": "1700000000000"},
        associations=[
            notes_sdk.PublicAssociationsForObject(
                to=notes_sdk.PublicObjectId(id=contact), types=[spec]
            )
        ],
    )
    client = sdk(sim)
    created, status, _ = client.crm.objects.notes.basic_api.create_with_http_info(
        note, _request_timeout=TIMEOUT
    )
    assert status == 201
    assert sim.notes[created.id]["associations"] == [contact]

    call_id = create_calls(sim, [call_input("t", hs_timestamp="1")])[0].results[0].id
    pairs = associations_sdk.BatchInputPublicDefaultAssociationMultiPost(
        inputs=[
            associations_sdk.PublicDefaultAssociationMultiPost(
                _from=associations_sdk.PublicObjectId(id=call_id),
                to=associations_sdk.PublicObjectId(id=other),
            )
        ]
    )
    data, status, _ = client.crm.associations.v4.batch_api.create_default_with_http_info(
        "calls", "contacts", pairs, _request_timeout=TIMEOUT
    )
    assert status == 200
    assert data.results[0].association_spec.association_type_id == 194
    assert sim.calls[call_id]["associations"] == [other]
    got = client.crm.objects.calls.basic_api.get_by_id(
        call_id, associations=["contacts"], _request_timeout=TIMEOUT
    )
    assert [a.id for a in got.associations["contacts"].results] == [other]


# --- auth, rate limits, faults ------------------------------------------------------


def test_missing_or_wrong_credentials_are_401_with_hubspot_body(sim):
    with pytest.raises(contacts_sdk.ApiException) as raised:
        sdk(sim, access_token="wrong").crm.contacts.batch_api.read(
            contacts_sdk.BatchReadInputSimplePublicObjectId(inputs=[], properties=[]),
            _request_timeout=TIMEOUT,
        )
    assert raised.value.status == 401
    assert body_of(raised.value)["category"] == "INVALID_AUTHENTICATION"

    with pytest.raises(hubspot.automation.actions.ApiException) as raised:
        sdk(sim, api_key="wrong").automation.actions.definitions_api.get_page(
            str(sim.app_id), _request_timeout=TIMEOUT
        )
    assert raised.value.status == 401
    assert sim.requests[-1].status == 401
    assert sim.requests[-1].query["hapikey"] == "<redacted>"


def test_requests_are_recorded_without_secrets(sim):
    batch_read(sim, [])
    (recorded,) = sim.requests
    assert (recorded.method, recorded.path, recorded.status) == (
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        200,
    )
    assert recorded.headers["Authorization"] == "<redacted>"
    assert recorded.json == {"inputs": [], "properties": ["firstname"], "propertiesWithHistory": []}
    assert sim.access_token not in json.dumps(recorded.headers)


def test_rate_limit_429_has_hubspot_body_and_headers(sim):
    sim.set_rate_limit(2, 10)
    _, _, first = batch_read(sim, [])
    _, _, second = batch_read(sim, [])
    assert first["X-HubSpot-RateLimit-Max"] == "2"
    assert [first["X-HubSpot-RateLimit-Remaining"], second["X-HubSpot-RateLimit-Remaining"]] == [
        "1",
        "0",
    ]
    assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"

    with pytest.raises(contacts_sdk.ApiException) as raised:
        batch_read(sim, [])

    assert raised.value.status == 429
    body = body_of(raised.value)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert {"correlationId", "groupName"} <= body.keys()
    assert 1 <= int(raised.value.headers["Retry-After"]) <= 10
    assert [r.status for r in sim.requests] == [200, 200, 429]
    # Search has its own limit and never carries the rate-limit headers.
    _, status, headers = sdk(sim).crm.contacts.search_api.do_search_with_http_info(
        contacts_sdk.PublicObjectSearchRequest(filter_groups=[], limit=1), _request_timeout=TIMEOUT
    )
    assert status == 200 and "X-HubSpot-RateLimit-Max" not in headers


def test_search_secondly_limit_when_configured(sim):
    sim.set_rate_limit(None, search_per_second=1)
    search(sim, [])
    with pytest.raises(contacts_sdk.ApiException) as raised:
        search(sim, [])
    assert raised.value.status == 429
    assert body_of(raised.value)["message"] == "You have reached your secondly limit."


def test_injected_status_faults_respect_path_prefix(sim):
    sim.fail_next(1, 503, path_prefix="/crm/v3/objects/calls")
    assert batch_read(sim, [])[1] == 200  # other paths are untouched
    with pytest.raises(calls_sdk.ApiException) as raised:
        create_calls(sim, [call_input("t", hs_timestamp="1")])
    assert raised.value.status == 503
    assert sim.calls == {}
    assert create_calls(sim, [call_input("t", hs_timestamp="1")])[1] == 201


def test_timeout_fault_stalls_past_the_client_timeout(sim):
    sim.fail_next(1, "timeout", delay_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        sdk(sim).crm.objects.calls.batch_api.create(
            calls_sdk.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[call_input("t", hs_timestamp="1")]
            ),
            _request_timeout=(1, 0.2),
        )
    assert time.monotonic() - started < 0.5
    # The server answers 504 once the stall is over; the write was never applied.
    assert wait_for(lambda: [r.status for r in sim.requests]) == [504]
    assert sim.calls == {}


def test_applied_timeout_fault_writes_then_answers_late(sim):
    sim.fail_next(1, "timeout", delay_seconds=0.5, apply=True)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        sdk(sim).crm.objects.calls.batch_api.create(
            calls_sdk.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[call_input("t", hs_timestamp="1")]
            ),
            _request_timeout=(1, 0.2),
        )
    assert wait_for(lambda: [r.status for r in sim.requests]) == [201]  # answered too late
    assert len(sim.calls) == 1


def test_max_requests_in_window(sim):
    for _ in range(3):
        batch_read(sim, [])
    assert sim.max_requests_in_window(10.0) == 3
    assert sim.max_requests_in_window(10.0, path_prefix="/crm/v3/objects/calls") == 0
    sim.requests[0].at -= 20  # pretend the first request was long ago
    assert sim.max_requests_in_window(10.0) == 2


# --- search and lists ---------------------------------------------------------------


@pytest.fixture
def people(sim):
    rows = [
        {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "phone": "+1 (555) 010-0001",
            "company": "Analytical Engines",
        },
        {"firstname": "Bob", "lastname": "Builder", "mobilephone": "+15550100002"},
        {
            "firstname": "Cy",
            "lastname": "Young",
            "phone": "+15550100003",
            "talkstack_do_not_call": "true",
        },
        {"firstname": "ada", "lastname": "Other"},
    ]
    return sim.add_contacts(rows)


def ids_of(page) -> list[str]:
    return [record.id for record in page.results]


@pytest.mark.parametrize(
    ("filters", "expected_rows"),
    [
        ([{"propertyName": "firstname", "operator": "EQ", "value": "ADA"}], [0, 3]),
        ([{"propertyName": "firstname", "operator": "NEQ", "value": "ada"}], [1, 2]),
        ([{"propertyName": "firstname", "operator": "IN", "values": ["bob", "cy"]}], [1, 2]),
        ([{"propertyName": "phone", "operator": "HAS_PROPERTY"}], [0, 2]),
        ([{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}], [1, 3]),
        ([{"propertyName": "phone", "operator": "EQ", "value": "+15550100001"}], [0]),
        ([{"propertyName": "company", "operator": "CONTAINS_TOKEN", "value": "engines"}], [0]),
        ([{"propertyName": "talkstack_do_not_call", "operator": "EQ", "value": "true"}], [2]),
        (
            [
                {"propertyName": "firstname", "operator": "EQ", "value": "ada"},
                {"propertyName": "lastname", "operator": "EQ", "value": "other"},
            ],
            [3],
        ),
    ],
)
def test_search_filters(sim, people, filters, expected_rows):
    page = search(sim, [{"filters": filters}])
    assert ids_of(page) == [people[row] for row in expected_rows]
    assert page.total == len(expected_rows)


def test_search_id_ranges_and_ored_groups(sim, people):
    gt = search(
        sim, [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": people[1]}]}]
    )
    assert ids_of(gt) == people[2:]
    lte = search(
        sim,
        [{"filters": [{"propertyName": "hs_object_id", "operator": "LTE", "value": people[1]}]}],
    )
    assert ids_of(lte) == people[:2]
    either = search(
        sim,
        [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "bob"}]},
            {"filters": [{"propertyName": "lastname", "operator": "EQ", "value": "young"}]},
        ],
    )
    assert ids_of(either) == people[1:3]


def test_search_pages_with_after_in_ascending_id_order(sim):
    ids = sim.add_contacts({"firstname": f"P{i}"} for i in range(25))
    first = search(sim, [], limit=10)
    assert ids_of(first) == ids[:10] and first.total == 25 and first.paging.next.after == "10"
    third = search(sim, [], limit=10, after="20")
    assert ids_of(third) == ids[20:] and third.paging is None


@pytest.mark.parametrize(
    ("groups", "limit", "after"),
    [
        ([{"filters": []}] * 6, 10, None),  # more than 5 groups
        ([{"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}] * 7}], 10, None),
        (
            [{"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}] * 6}] * 3
            + [{"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}]}],
            10,
            None,
        ),  # 19 filters
        ([], 201, None),
        ([], 100, "10000"),
        ([{"filters": [{"propertyName": "a", "operator": "LIKE", "value": "x"}]}], 10, None),
    ],
    ids=["groups", "filters-per-group", "filters-total", "limit", "past-10000", "operator"],
)
def test_search_limits_are_400(sim, groups, limit, after):
    with pytest.raises(contacts_sdk.ApiException) as raised:
        search(sim, groups, limit=limit, after=after)
    assert raised.value.status == 400
    assert body_of(raised.value)["category"] == "VALIDATION_ERROR"


def test_list_memberships_page_in_recordid_order(sim):
    ids = sim.add_contacts({"firstname": f"L{i}"} for i in range(600))
    list_id = sim.add_list(reversed(ids), name="Leads")
    api = sdk(sim).crm.lists.memberships_api
    pages, after = [], None
    while True:
        page = api.get_page(list_id, limit=250, after=after, _request_timeout=TIMEOUT)
        pages.append([m.record_id for m in page.results])
        assert page.total == 600
        if page.paging is None:
            break
        after = page.paging.next.after
    assert [len(p) for p in pages] == [250, 250, 100]
    assert [i for p in pages for i in p] == ids

    with pytest.raises(hubspot.crm.lists.ApiException) as raised:
        api.get_page("987654", _request_timeout=TIMEOUT)
    assert raised.value.status == 404
    with pytest.raises(hubspot.crm.lists.ApiException) as raised:
        api.get_page(list_id, limit=251, _request_timeout=TIMEOUT)
    assert raised.value.status == 400


# --- properties, callbacks, action definitions --------------------------------------


def test_property_groups_and_properties_201_then_409(sim):
    properties = sdk(sim).crm.properties
    group = PropertyGroupCreate(name="talkstack", label="Talkstack", display_order=-1)
    _, status, _ = properties.groups_api.create_with_http_info(
        "contacts", group, _request_timeout=TIMEOUT
    )
    assert status == 201
    definition = PropertyCreate(
        name="talkstack_last_call_status",
        label="Last call status",
        type="enumeration",
        field_type="select",
        group_name="talkstack",
        options=[{"label": "Busy", "value": "busy", "displayOrder": 0}],
    )
    created, status, _ = properties.core_api.create_with_http_info(
        "contacts", definition, _request_timeout=TIMEOUT
    )
    assert status == 201 and created.options[0].value == "busy"
    assert "talkstack_last_call_status" in sim.properties

    for create, args in (
        (properties.groups_api.create, group),
        (properties.core_api.create, definition),
    ):
        with pytest.raises(hubspot.crm.properties.ApiException) as raised:
            create("contacts", args, _request_timeout=TIMEOUT)
        assert raised.value.status == 409
        assert body_of(raised.value)["category"] == "OBJECT_ALREADY_EXISTS"

    definition.name, definition.field_type = (
        "talkstack_other",
        "text",
    )  # enumeration needs select/radio/...
    with pytest.raises(hubspot.crm.properties.ApiException) as raised:
        properties.core_api.create("contacts", definition, _request_timeout=TIMEOUT)
    assert raised.value.status == 400


def test_callbacks_complete_single_and_batch_with_204(sim):
    api = sdk(sim).automation.actions.callbacks_api
    _, status, _ = api.complete_with_http_info(
        "cb-1",
        CallbackCompletionRequest(output_fields={"hs_execution_state": "SUCCESS"}),
        _request_timeout=TIMEOUT,
    )
    assert status == 204
    batch = BatchInputCallbackCompletionBatchRequest(
        inputs=[
            CallbackCompletionBatchRequest(
                callback_id="cb-2", output_fields={"hs_execution_state": "FAIL_CONTINUE"}
            ),
            CallbackCompletionBatchRequest(
                callback_id="cb-3", output_fields={"call_status": "busy"}
            ),
        ]
    )
    _, status, _ = api.complete_batch_with_http_info(batch, _request_timeout=TIMEOUT)
    assert status == 204
    assert [c for c, _ in sim.callback_completions] == ["cb-1", "cb-2", "cb-3"]
    with pytest.raises(hubspot.automation.actions.ApiException) as raised:
        api.complete(
            "cb-4", CallbackCompletionRequest(output_fields={"hs_execution_state": "MAYBE"})
        )
    assert raised.value.status == 400


def test_action_definitions_create_list_patch_with_hapikey(sim):
    api = sdk(sim).automation.actions.definitions_api
    egg = {
        "actionUrl": "https://c.example/a",
        "objectTypes": ["CONTACT"],
        "labels": {"en": {"actionName": "Call"}},
        "published": False,
    }
    created, status, _ = api.create_with_http_info(str(sim.app_id), egg, _request_timeout=TIMEOUT)
    assert status == 201 and created.action_url == "https://c.example/a"
    listed = api.get_page(str(sim.app_id), _request_timeout=TIMEOUT)
    assert [d.id for d in listed.results] == [created.id]
    patched = api.update(created.id, str(sim.app_id), {"published": True}, _request_timeout=TIMEOUT)
    assert patched.published is True and patched.revision_id == "2"
    assert all(r.query.get("hapikey") == "<redacted>" for r in sim.requests)


# --- webhooks -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_receiver(running_hubspot_sim):
    """A loopback endpoint verifying HubSpot signatures the way the connector does."""
    app = Flask("receiver")
    received = []
    sim = running_hubspot_sim

    @app.post("/hooks/hubspot")
    def hook():
        query = request.query_string.decode()
        uri = f"{base['url']}{request.path}" + (f"?{query}" if query else "")
        try:
            version = verify_request(
                secrets=[sim.client_secret],
                headers=request.headers,
                method="POST",
                uri=uri,
                body=request.get_data(),
                now_ms=int(time.time() * 1000),
            )
        except SignatureError as exc:
            return {"error": exc.reason}, 401
        received.append((version, json.loads(request.get_data())))
        return "", 204

    server = serve(app)
    base = {"url": server.url}
    yield server.url, received
    server.stop()


@pytest.fixture
def receiver(running_receiver):
    url, received = running_receiver
    received.clear()
    return url, received


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_signed_webhook_delivery_verifies(sim, receiver, version):
    url, received = receiver
    contact = sim.add_contact(firstname="Ada")
    event = sim.property_change_event(contact, "talkstack_call_requested", "true")

    response = sim.deliver_webhook(
        f"{url}/hooks/hubspot?portal=1&tag=a%3Ab", [event], version=version
    )

    assert response.status_code == 204
    assert received == [(version, [event])]
    assert event["subscriptionType"] == "contact.propertyChange" and event["objectId"] == int(
        contact
    )


def test_webhook_signed_with_another_secret_is_rejected(sim, receiver):
    url, received = receiver
    response = sim.deliver_webhook(
        f"{url}/hooks/hubspot", [{"eventId": 1}], secret="not-the-secret"
    )
    assert response.status_code == 401 and received == []


def test_set_contact_property_updates_and_delivers(sim, receiver):
    url, received = receiver
    contact = sim.add_contact(firstname="Ada")
    sim.set_contact_property(
        contact, "talkstack_call_requested", True, deliver_to=f"{url}/hooks/hubspot"
    )
    assert sim.contacts[contact]["talkstack_call_requested"] == "true"
    ((version, (event,)),) = received
    assert (version, event["propertyName"], event["propertyValue"]) == (
        "v3",
        "talkstack_call_requested",
        "true",
    )


# --- control endpoints and scale ----------------------------------------------------


def test_control_endpoints_drive_the_simulator_without_being_recorded(sim, receiver):
    url, received = receiver
    ids = requests.post(
        f"{sim.url}/_sim/contacts", json={"contacts": [{"firstname": "Ada"}]}, timeout=5
    ).json()["ids"]
    assert requests.get(f"{sim.url}/_sim/contacts/{ids[0]}", timeout=5).json()["properties"] == {
        "firstname": "Ada"
    }
    list_id = requests.post(f"{sim.url}/_sim/lists", json={"contactIds": ids}, timeout=5).json()[
        "listId"
    ]
    assert sim.lists[list_id]["ids"] == ids
    requests.post(f"{sim.url}/_sim/faults", json={"count": 1, "status": 502}, timeout=5)
    with pytest.raises(contacts_sdk.ApiException):
        batch_read(sim, ids)
    requests.post(f"{sim.url}/_sim/rate-limit", json={"limit": 50, "windowSeconds": 1}, timeout=5)
    assert batch_read(sim, ids)[2]["X-HubSpot-RateLimit-Max"] == "50"
    change = {
        "contactId": ids[0],
        "name": "firstname",
        "value": "Ada L",
        "deliverTo": f"{url}/hooks/hubspot",
    }
    assert (
        requests.post(f"{sim.url}/_sim/property-change", json=change, timeout=5).json()[
            "deliveredStatus"
        ]
        == 204
    )
    assert received[0][1][0]["propertyValue"] == "Ada L"

    recorded = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
    assert [r["status"] for r in recorded] == [502, 200]
    requests.post(f"{sim.url}/_sim/reset", timeout=5)
    assert sim.contacts == {} and sim.requests == []


def test_100k_contacts_load_fast_and_compactly():
    simulator = HubSpotSimulator()
    rows = (
        {"firstname": f"F{i}", "lastname": f"L{i}", "phone": f"+1555{i:07d}"}
        for i in range(100_000)
    )
    started = time.monotonic()
    ids = simulator.add_contacts(rows)
    assert time.monotonic() - started < 3.0
    assert len(ids) == 100_000 and simulator.contacts[ids[-1]]["phone"] == "+15550099999"

    tracemalloc.start()
    simulator.add_contacts(
        {"firstname": f"F{i}", "lastname": f"L{i}", "phone": f"+1555{i:07d}"} for i in range(10_000)
    )
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert used / 10_000 < 700  # bytes per contact: 100k contacts stay well under 100 MB

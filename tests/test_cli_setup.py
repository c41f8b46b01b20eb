"""`flask connector setup` (SPEC §9): properties, the Talkstack webhook, the workflow action.
Idempotent: a second run creates nothing."""

from __future__ import annotations

import json

import pytest

from simulators.hubspot_schema import property_definition

PUBLIC = "https://connector.example.com"
RULES = """
[[analysis.questions]]
key = "interested"
question = "Is the contact interested in a demo?"
type = "Boolean"

[[analysis.questions]]
key = "timeline"
question = "When do they want to start?"
type = "Selector"
options = ["this quarter", "later"]
"""
CORE = {
    "talkstack_last_call_status": ("enumeration", "select"),
    "talkstack_last_call_at": ("datetime", "date"),
    "talkstack_last_call_id": ("string", "text"),
    "talkstack_last_call_duration": ("number", "number"),
    "talkstack_call_attempts": ("number", "number"),
    "talkstack_last_skip_reason": ("enumeration", "select"),
    "talkstack_call_requested": ("bool", "booleancheckbox"),
    "talkstack_do_not_call": ("bool", "booleancheckbox"),
}
QUESTION_PROPERTIES = {"talkstack_interested": ("bool", "booleancheckbox"),
                       "talkstack_timeline": ("enumeration", "select")}


@pytest.fixture
def setup_app(make_app, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)

    def build(**env):
        return make_app(PUBLIC_BASE_URL=PUBLIC, CONNECTOR_CONFIG=str(rules), **env)

    return build


def run_setup_command(app):
    result = app.test_cli_runner().invoke(args=["connector", "setup"])
    return result.exit_code, result.output


def printed_definition(output: str) -> dict:
    start = output.index("\n{\n") + 1
    return json.loads(output[start:])


def secrets_of(app) -> list[str]:
    return app.extensions["connector"].settings.secrets()


def creates(hubspot_sim, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in hubspot_sim.requests[since:]
            if r.method == "POST" and (r.path.startswith("/crm/v3/properties/")
                                       or r.path == "/automation/v4/actions/54321")]


def test_setup_creates_everything_and_prints_the_action(setup_app, hubspot_sim, talkstack_sim):
    app = setup_app()
    token = app.extensions["connector"].settings.talkstack_webhook_token

    code, output = run_setup_command(app)

    assert code == 0, output
    assert "property group 'talkstack': created" in output
    assert "10 created, 0 already there" in output
    assert "talkstack" in hubspot_sim.property_groups
    assert sorted(set(creates(hubspot_sim))) == [("POST", "/automation/v4/actions/54321"),
                                                 ("POST", "/crm/v3/properties/calls"),
                                                 ("POST", "/crm/v3/properties/calls/groups"),
                                                 ("POST", "/crm/v3/properties/contacts"),
                                                 ("POST", "/crm/v3/properties/contacts/groups")]
    assert "HubSpot call properties: 1 created" in output
    unique_id = hubspot_sim.property_defs["calls"]["talkstack_call_id"]
    assert (unique_id["hasUniqueValue"], unique_id["groupName"]) == (True, "talkstack")
    wanted = {**CORE, **QUESTION_PROPERTIES}
    made = {name: (hubspot_sim.properties[name]["type"], hubspot_sim.properties[name]["fieldType"])
            for name in wanted}
    assert made == wanted
    assert {hubspot_sim.properties[n]["groupName"] for n in wanted} == {"talkstack"}
    status_options = [o["value"] for o in hubspot_sim.properties["talkstack_last_call_status"]
                      ["options"]]
    assert status_options == ["completed", "busy", "no-answer", "voicemail", "silence", "failed",
                              "canceled"]
    assert [o["value"] for o in hubspot_sim.properties["talkstack_timeline"]["options"]] == \
        ["this quarter", "later"]
    assert talkstack_sim.webhook_url == f"{PUBLIC}/webhooks/talkstack/{token}"
    assert f"{PUBLIC}/webhooks/talkstack/<TALKSTACK_WEBHOOK_TOKEN>" in output
    for secret in secrets_of(app):
        assert secret not in output

    definition = printed_definition(output)
    assert definition["actionUrl"] == f"{PUBLIC}/webhooks/hubspot/actions/call"
    outputs = [f["typeDefinition"]["name"] for f in definition["outputFields"]]
    assert outputs[:6] == ["call_status", "call_outcome", "duration_seconds",
                           "talkstack_call_id", "recording_url", "attempts"]
    assert {"interested", "timeline"} <= set(outputs)
    [agent] = [f for f in definition["inputFields"] if f["typeDefinition"]["name"] == "agentId"]
    assert agent["typeDefinition"]["optionsUrl"] == \
        f"{PUBLIC}/webhooks/hubspot/actions/options/agents"
    [saved] = hubspot_sim.action_definitions.values()
    assert saved["actionUrl"] == definition["actionUrl"]
    assert f"(definition {saved['id']})" in output


def test_a_second_run_creates_nothing(setup_app, hubspot_sim):
    app = setup_app()
    assert run_setup_command(app)[0] == 0
    first_run = len(hubspot_sim.requests)
    properties_before = json.dumps(hubspot_sim.properties, sort_keys=True, default=str)

    code, output = run_setup_command(app)

    assert code == 0, output
    assert "property group 'talkstack': already there" in output
    assert "0 created, 10 already there" in output
    assert "HubSpot call properties: 0 created" in output
    assert creates(hubspot_sim, first_run) == []
    assert len(hubspot_sim.action_definitions) == 1  # updated in place (PATCH)
    assert any(r.method == "PATCH" for r in hubspot_sim.requests[first_run:])
    assert json.dumps(hubspot_sim.properties, sort_keys=True, default=str) == properties_before


def test_an_existing_property_is_left_as_it_is(setup_app, hubspot_sim):
    hubspot_sim.properties["talkstack_do_not_call"] = property_definition({
        "name": "talkstack_do_not_call", "label": "Our own DNC flag", "type": "string",
        "fieldType": "text", "groupName": "contactinformation"})
    app = setup_app()

    code, output = run_setup_command(app)

    assert code == 0, output
    assert "9 created, 1 already there" in output
    assert hubspot_sim.properties["talkstack_do_not_call"]["label"] == "Our own DNC flag"
    created = [r.json["name"] for r in hubspot_sim.requests
               if (r.method, r.path) == ("POST", "/crm/v3/properties/contacts")]
    assert "talkstack_do_not_call" not in created


def test_without_app_credentials_the_definition_is_only_printed(setup_app, hubspot_sim):
    app = setup_app(HUBSPOT_APP_ID="", HUBSPOT_DEVELOPER_API_KEY="")

    code, output = run_setup_command(app)

    assert code == 0, output
    assert "set HUBSPOT_APP_ID and HUBSPOT_DEVELOPER_API_KEY" in output
    assert printed_definition(output)["objectTypes"] == ["CONTACT"]
    assert hubspot_sim.action_definitions == {}
    assert not [r for r in hubspot_sim.requests if r.path.startswith("/automation/")]


def test_a_hubspot_failure_is_one_clear_line_without_secrets(setup_app, hubspot_sim):
    app = setup_app()
    hubspot_sim.fail_next(1, 401)

    code, output = run_setup_command(app)

    assert code != 0
    assert "setup failed:" in output
    for secret in secrets_of(app):
        assert secret not in output

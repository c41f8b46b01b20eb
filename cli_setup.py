"""`flask connector setup`: HubSpot properties, Talkstack webhook, workflow action."""

from __future__ import annotations

import json

import click
from flask import current_app

from domain.action_definition import action_definition
from domain.hubspot_schema import PROPERTY_GROUP, contact_property_definitions
from integrations.errors import IntegrationError
from jobs.health import record_webhook_registration
from jobs.health import talkstack_webhook_url as registered_url
from jobs.hubspot_schema import ensure_call_schema


def talkstack_webhook_url(settings, *, masked: bool = False) -> str:
    if masked:  # for printing: the token is a secret
        base = settings.public_base_url.rstrip("/")
        return f"{base}/webhooks/talkstack/<TALKSTACK_WEBHOOK_TOKEN>"
    return registered_url(settings)


def run_setup(rt, echo=click.echo) -> dict:
    """Idempotent: existing properties are left alone; returns what was done."""
    settings, questions = rt.settings, rt.rules.questions
    done = {
        "groupCreated": rt.hubspot.ensure_property_group(
            PROPERTY_GROUP["name"], PROPERTY_GROUP["label"]
        )
    }
    echo(
        f"HubSpot property group '{PROPERTY_GROUP['name']}': "
        + ("created" if done["groupCreated"] else "already there")
    )
    definitions = contact_property_definitions(questions)
    created = rt.hubspot.ensure_properties(definitions)
    done["propertiesCreated"] = created
    echo(
        f"HubSpot contact properties: {len(created)} created, "
        f"{len(definitions) - len(created)} already there"
    )
    done["callPropertiesCreated"] = ensure_call_schema(rt.hubspot)
    echo(f"HubSpot call properties: {len(done['callPropertiesCreated'])} created")
    rt.talkstack.set_webhook_url(talkstack_webhook_url(settings))
    record_webhook_registration(rt, talkstack_webhook_url(settings))
    masked_url = talkstack_webhook_url(settings, masked=True)
    echo(f"Talkstack call-status webhook registered: {masked_url}")
    definition = action_definition(settings.public_base_url, questions)
    done["actionDefinition"] = definition
    if settings.hubspot_app_id and settings.hubspot_developer_api_key:
        done["actionDefinitionId"] = rt.hubspot.upsert_action_definition(
            settings.hubspot_app_id, definition
        )
        echo(
            f"Workflow action 'Call with Talkstack AI' saved in app {settings.hubspot_app_id} "
            f"(definition {done['actionDefinitionId']})"
        )
    else:
        echo(
            "Workflow action definition (set HUBSPOT_APP_ID and HUBSPOT_DEVELOPER_API_KEY "
            "to create it automatically):"
        )
    echo(json.dumps(definition, indent=2))
    return done


def register(group) -> None:
    @group.command("setup")
    def setup_command():
        """Create HubSpot properties, register the Talkstack webhook, define the action."""
        try:
            run_setup(current_app.extensions["connector"])
        except IntegrationError as exc:
            raise click.ClickException(f"setup failed: {exc}") from None

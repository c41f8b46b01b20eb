"""What the console's sandbox page can do, the way HubSpot itself would do it.

Each helper talks HTTP: to the HubSpot simulator's `/_sim` control endpoints, or to this
connector's own webhook routes with a real HubSpot signature, so the whole inbound path
(signature, ledger, queue, worker) runs exactly as in production. Sandbox only.
"""

from __future__ import annotations

import json
import time
import uuid

import requests

from domain.action_definition import ACTION_PATH
from webhooks.signatures import signed_headers

TIMEOUT = (2, 10)
APP_WEBHOOK_PATH = "/webhooks/hubspot"


class SandboxActionError(Exception):
    """The simulator or the connector refused; the message is safe to show."""


def _require_sandbox(settings) -> None:
    if not settings.sandbox:
        raise SandboxActionError("only available in the sandbox")


def _checked(response: requests.Response, what: str) -> requests.Response:
    if response.status_code >= 300:
        raise SandboxActionError(f"{what} answered HTTP {response.status_code}")
    return response


def simulate_property_change(settings, contact_id: str, value: str = "true") -> int:
    """Set the call-trigger property on a simulated contact; HubSpot's simulator then
    delivers the signed `contact.propertyChange` webhook here. Returns our HTTP status."""
    _require_sandbox(settings)
    body = {"contactId": str(contact_id), "name": settings.call_trigger_property, "value": value,
            "deliverTo": settings.public_base_url.rstrip("/") + APP_WEBHOOK_PATH}
    try:
        response = requests.post(f"{settings.hubspot_api_base}/_sim/property-change", json=body,
                                 timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise SandboxActionError(f"HubSpot simulator unreachable ({type(exc).__name__})") from None
    delivered = _checked(response, "HubSpot simulator").json().get("deliveredStatus")
    if delivered is None or delivered >= 300:
        raise SandboxActionError(f"the connector answered the webhook with HTTP {delivered}")
    return delivered


def action_execution(contact_id: str, agent_id: str | None = None) -> dict:
    """A custom workflow action execution request as HubSpot sends it."""
    return {
        "callbackId": f"ap-sandbox-{uuid.uuid4().hex[:12]}",
        "origin": {"portalId": 62515, "actionDefinitionId": 7001, "actionDefinitionVersion": 1},
        "context": {"source": "WORKFLOWS", "workflowId": 1},
        "object": {"objectId": int(contact_id), "objectType": "CONTACT", "properties": {}},
        "inputFields": {"agentId": agent_id or ""},
    }


def send_workflow_action(settings, contact_id: str, agent_id: str | None = None) -> str:
    """POST a signed (v3) action execution to our action URL; returns its callbackId."""
    _require_sandbox(settings)
    execution = action_execution(contact_id, agent_id)
    url = settings.public_base_url.rstrip("/") + ACTION_PATH
    body = json.dumps(execution).encode()
    headers = signed_headers(settings.hubspot_client_secret, "v3", "POST", url, body,
                             int(time.time() * 1000))
    headers["Content-Type"] = "application/json"
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise SandboxActionError(f"connector unreachable ({type(exc).__name__})") from None
    _checked(response, "the action URL")
    return execution["callbackId"]


def start_list_batch(rt, list_id: str) -> int:
    """Record a batch for a HubSpot list, exactly as POST /api/batches does."""
    from jobs.batches import create_batch

    return create_batch(rt, {"listId": str(list_id)})

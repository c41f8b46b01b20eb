"""Signed HubSpot app-webhook delivery from the simulator (sandbox and tests)."""

from __future__ import annotations

import json
import time

import requests

from simulators.hubspot_objects import as_string
from webhooks.signatures import signed_headers

FIRST_SUBSCRIPTION_ID = 100_001


class WebhookSenderMixin:
    """Needs `lock`, `portal_id`, `app_id`, `client_secret`, `_event_ids`,
    `_subscription_ids`, `write_contact` and `_register_seeded_properties`."""

    def property_change_event(
        self, contact_id, name: str, value, *, event_id=None, occurred_at=None
    ) -> dict:
        """A `contact.propertyChange` event as HubSpot's app webhooks send it."""
        with self.lock:
            subscription_id = self._subscription_ids.setdefault(
                name, FIRST_SUBSCRIPTION_ID + len(self._subscription_ids)
            )
            event_id = next(self._event_ids) if event_id is None else event_id
        return {
            "eventId": event_id,
            "subscriptionId": subscription_id,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": int(time.time() * 1000) if occurred_at is None else occurred_at,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(contact_id),
            "propertyName": name,
            "propertyValue": as_string(value),
            "changeSource": "CRM_UI",
            "sourceId": "userId:1",
        }

    def deliver_webhook(
        self,
        url: str,
        events: list[dict],
        *,
        version: str = "v3",
        secret: str | None = None,
        now_ms=None,
    ) -> requests.Response:
        """POST `events` to `url`, signed like HubSpot (the signed URI is `url` itself)."""
        body = json.dumps(events, separators=(",", ":")).encode()
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        headers = signed_headers(secret or self.client_secret, version, "POST", url, body, now_ms)
        headers["Content-Type"] = "application/json"
        return requests.post(url, data=body, headers=headers, timeout=10)

    def set_contact_property(
        self, contact_id, name: str, value, *, deliver_to: str | None = None, version: str = "v3"
    ) -> requests.Response | None:
        """Change a property as a HubSpot user would; deliver the signed event if asked."""
        contact_id = str(contact_id)
        with self.lock:
            self._register_seeded_properties({name})
            self.write_contact(contact_id, {name: value})
        if deliver_to is None:
            return None
        return self.deliver_webhook(
            deliver_to, [self.property_change_event(contact_id, name, value)], version=version
        )

"""HubSpotClient: the connector's only way to call HubSpot, a thin layer over the SDK.

Every call goes through HubSpotTransport (shared rate limit, timeout, bounded retries,
typed errors). Batch methods chunk to HubSpot's 100-input limit and report per-input
failures in a BatchOutcome; if a later chunk raises, the error carries what earlier chunks
achieved as `partial_outcome`, so a caller never re-creates records that already exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import hubspot
from hubspot.automation import actions as actions_sdk
from hubspot.crm import contacts as contacts_sdk

from integrations.hubspot_engagements import HubSpotEngagementsMixin
from integrations.hubspot_search import SORT_BY_ID, filter_group_models, next_offset, with_id_floor
from integrations.hubspot_setup import HubSpotSetupMixin
from integrations.hubspot_transport import HubSpotTransport
from integrations.hubspot_transport import require_response as _require
from integrations.hubspot_types import (
    MEMBERSHIPS_PAGE_MAX,
    SEARCH_PAGE_MAX,
    SEARCH_RESULTS_CAP,
    BatchOutcome,
    CallInput,
    SearchPage,
    as_properties,
    batch_errors,
    chunks,
    keeping_partial,
    merge_updates,
    unique_ids,
)
from integrations.ratelimit import RateLimiter

__all__ = ["BatchOutcome", "CallInput", "HubSpotClient", "SearchPage"]


class HubSpotClient(HubSpotEngagementsMixin, HubSpotSetupMixin):
    def __init__(
        self,
        *,
        access_token: str,
        base_url: str = "https://api.hubapi.com",
        rate_limiter: RateLimiter | None = None,
        timeout=(3.05, 15),
        developer_api_key: str | None = None,
        max_retries: int = 3,
        sleep=time.sleep,
        on_request=None,
    ) -> None:
        # `on_request(status)` is told the outcome of every HTTP attempt (for metrics).
        # retry=False turns off urllib3's hidden retries (3 by default, GET only), so every
        # attempt passes through the rate limiter and our own retry policy.
        sdk = hubspot.Client.create(
            access_token=access_token,
            api_key=developer_api_key,
            host=base_url.rstrip("/"),
            retry=False,
        )
        # Each attribute access builds a new ApiClient and connection pool: build once.
        self._contacts_batch = sdk.crm.contacts.batch_api
        self._contacts_search = sdk.crm.contacts.search_api
        self._calls_batch = sdk.crm.objects.calls.batch_api
        self._notes = sdk.crm.objects.notes.basic_api
        self._associations = sdk.crm.associations.v4.batch_api
        self._memberships = sdk.crm.lists.memberships_api
        self._properties = sdk.crm.properties.core_api
        self._property_groups = sdk.crm.properties.groups_api
        self._callbacks = sdk.automation.actions.callbacks_api
        self._definitions = sdk.automation.actions.definitions_api if developer_api_key else None
        self._transport = HubSpotTransport(
            rate_limiter=rate_limiter, timeout=timeout, max_retries=max_retries, sleep=sleep,
            on_request=on_request,
        )
        self._call = self._transport.call

    # --- contacts -------------------------------------------------------------------

    def read_contacts(
        self, ids: Iterable, properties: list[str]
    ) -> dict[str, dict[str, str | None]]:
        """Properties by contact id; ids HubSpot does not know are simply absent."""
        found: dict[str, dict[str, str | None]] = {}
        for chunk in chunks(unique_ids(ids)):
            request = contacts_sdk.BatchReadInputSimplePublicObjectId(
                inputs=[contacts_sdk.SimplePublicObjectId(id=i) for i in chunk],
                properties=properties,
                properties_with_history=[],
            )
            response = self._call(
                "contacts batch read",
                self._contacts_batch.read,
                batch_read_input_simple_public_object_id=request,
            )
            for record in _require(response, "contacts batch read").results or []:
                found[record.id] = record.properties or {}
        return found

    def search_contacts(
        self,
        filter_groups: list[dict],
        properties: list[str],
        *,
        after: str | None = None,
        limit: int = 100,
    ) -> SearchPage:
        request = contacts_sdk.PublicObjectSearchRequest(
            filter_groups=filter_group_models(filter_groups),
            properties=properties,
            limit=min(limit, SEARCH_PAGE_MAX),
            after=after,
            sorts=[SORT_BY_ID],
        )
        response = _require(
            self._call(
                "contacts search",
                self._contacts_search.do_search,
                public_object_search_request=request,
            ),
            "contacts search",
        )
        paging_next = response.paging.next if response.paging else None
        return SearchPage(
            results=[(record.id, record.properties or {}) for record in response.results or []],
            after=paging_next.after if paging_next else None,
            total=response.total or 0,
        )

    def iter_search_contacts(
        self, filter_groups: list[dict], properties: list[str], *, page_size: int = 100
    ) -> Iterator[list[tuple[str, dict]]]:
        """Every match, one page per yield; continues past HubSpot's 10,000-result cap by
        restarting with `hs_object_id GT <last id>` (results are sorted by id)."""
        after: str | None = None
        floor_id: str | None = None
        while True:
            groups = with_id_floor(filter_groups, floor_id)
            page = self.search_contacts(groups, properties, after=after, limit=page_size)
            if page.results:
                yield page.results
            offset = next_offset(page.after)
            if page.after is None or not page.results:
                return
            if offset is not None and offset + page_size > SEARCH_RESULTS_CAP:
                floor_id, after = page.results[-1][0], None
            else:
                after = page.after

    def find_contact_ids_by_phone(self, e164: str) -> list[str]:
        """Contacts whose phone or mobilephone equals the number (search is eventually
        consistent: a contact created seconds ago may be missing)."""
        groups = [
            {"filters": [{"propertyName": name, "operator": "EQ", "value": e164}]}
            for name in ("phone", "mobilephone")
        ]
        pages = self.iter_search_contacts(
            groups, ["phone", "mobilephone"], page_size=SEARCH_PAGE_MAX
        )
        return [contact_id for page in pages for contact_id, _ in page]

    def iter_list_member_ids(
        self, list_id: str, *, page_size: int = MEMBERSHIPS_PAGE_MAX
    ) -> Iterator[list[str]]:
        """Record ids of a v3 list (ILS listId), ascending, one page per yield."""
        after: str | None = None
        while True:
            response = _require(
                self._call(
                    "list memberships",
                    self._memberships.get_page,
                    list_id=str(list_id),
                    limit=min(page_size, MEMBERSHIPS_PAGE_MAX),
                    after=after,
                ),
                "list memberships",
            )
            ids = [member.record_id for member in response.results or []]
            if ids:
                yield ids
            paging_next = response.paging.next if response.paging else None
            after = paging_next.after if paging_next else None
            if not after or not ids:
                return

    def update_contacts(self, updates: list[tuple[str, dict]]) -> BatchOutcome:
        return self._batch_update("contacts", contacts_sdk, self._contacts_batch, updates)

    def _batch_update(self, object_type: str, sdk, batch_api, updates) -> BatchOutcome:
        operation = f"{object_type} batch update"
        outcome = BatchOutcome()
        with keeping_partial(outcome):
            for chunk in chunks(merge_updates(updates)):
                request = sdk.BatchInputSimplePublicObjectBatchInput(
                    inputs=[
                        sdk.SimplePublicObjectBatchInput(
                            id=object_id, properties=as_properties(props)
                        )
                        for object_id, props in chunk
                    ]
                )
                response = _require(
                    self._call(operation, batch_api.update, request, tally=outcome), operation
                )
                outcome.results.update({record.id: record.id for record in response.results or []})
                outcome.errors.extend(batch_errors(response))
        return outcome

    # --- workflow callbacks ---------------------------------------------------------

    def complete_callback(self, callback_id: str, output_fields: dict) -> None:
        request = actions_sdk.CallbackCompletionRequest(output_fields=output_fields)
        self._call("callback complete", self._callbacks.complete, callback_id, request)

    def complete_callbacks(self, completions: list[tuple[str, dict]]) -> None:
        for chunk in chunks(list(completions)):
            request = actions_sdk.BatchInputCallbackCompletionBatchRequest(
                inputs=[
                    actions_sdk.CallbackCompletionBatchRequest(
                        callback_id=cid, output_fields=fields
                    )
                    for cid, fields in chunk
                ]
            )
            self._call("callbacks complete", self._callbacks.complete_batch, request)

"""HubSpotClient's call and note engagement methods (a mixin over the client's transport).

Creates are not replayed after a timeout: HubSpot has no idempotency key for them, so the
caller looks its records up (`find_calls` by a unique property) before creating again.
"""

from __future__ import annotations

from collections.abc import Iterable

from hubspot.crm.associations import v4 as associations_sdk
from hubspot.crm.objects import calls as calls_sdk
from hubspot.crm.objects import notes as notes_sdk

from integrations.errors import AmbiguousCallError
from integrations.hubspot_transport import require_response as _require
from integrations.hubspot_types import (
    CALL_TO_CONTACT,
    NOTE_TO_CONTACT,
    BatchOutcome,
    CallInput,
    as_properties,
    association_to_contact,
    batch_errors,
    chunks,
    keeping_partial,
    unique_ids,
)


class HubSpotEngagementsMixin:
    """Needs `_call`, `_calls_batch`, `_notes`, `_associations` and `_batch_update`."""

    def create_calls(self, inputs: list[CallInput]) -> BatchOutcome:
        """Create call engagements, each associated to its contact (type 194).

        Not replayed after a timeout (AmbiguousCallError): HubSpot has no idempotency key
        for creates, so the caller must look for its trace ids before trying again.
        """
        outcome = BatchOutcome()
        with keeping_partial(outcome):
            for chunk in chunks(list(inputs)):
                request = calls_sdk.BatchInputSimplePublicObjectBatchInputForCreate(
                    inputs=[
                        calls_sdk.SimplePublicObjectBatchInputForCreate(
                            properties=as_properties(item.properties),
                            associations=association_to_contact(
                                item.contact_id, CALL_TO_CONTACT, calls_sdk
                            ),
                            object_write_trace_id=item.trace_id,
                        )
                        for item in chunk
                    ]
                )
                response = _require(
                    self._call(
                        "calls batch create",
                        self._calls_batch.create,
                        request,
                        replay_safe=False,
                        tally=outcome,
                    ),
                    "calls batch create",
                )
                outcome.results.update(self._created_by_trace_id(chunk, response))
                outcome.errors.extend(batch_errors(response))
        return outcome

    @staticmethod
    def _created_by_trace_id(chunk: list[CallInput], response) -> dict[str, str]:
        results = response.results or []
        if all(record.object_write_trace_id for record in results):
            return {record.object_write_trace_id: record.id for record in results}
        if len(results) == len(chunk):  # no trace ids echoed: HubSpot keeps input order
            return {item.trace_id: record.id for item, record in zip(chunk, results, strict=True)}
        # Created, but we cannot say which: the caller must look before creating again.
        raise AmbiguousCallError(
            "calls batch create: results cannot be matched to inputs", vendor="HubSpot"
        )

    def find_calls(self, id_property: str, values: Iterable[str]) -> dict[str, str]:
        """HubSpot call ids by the value of a unique property; values not found are absent."""
        found: dict[str, str] = {}
        for chunk in chunks(unique_ids(values)):
            request = calls_sdk.BatchReadInputSimplePublicObjectId(
                inputs=[calls_sdk.SimplePublicObjectId(id=value) for value in chunk],
                properties=[id_property],
                properties_with_history=[],
                id_property=id_property,
            )
            response = self._call(
                "calls batch read",
                self._calls_batch.read,
                batch_read_input_simple_public_object_id=request,
            )
            for record in _require(response, "calls batch read").results or []:
                value = (record.properties or {}).get(id_property)
                if value:
                    found[value] = record.id
        return found

    def update_calls(self, updates: list[tuple[str, dict]]) -> BatchOutcome:
        return self._batch_update("calls", calls_sdk, self._calls_batch, updates)

    def create_note(self, contact_id: str, body_html: str, timestamp_ms: int) -> str:
        request = notes_sdk.SimplePublicObjectInputForCreate(
            properties={"hs_note_body": body_html, "hs_timestamp": str(timestamp_ms)},
            associations=association_to_contact(contact_id, NOTE_TO_CONTACT, notes_sdk),
        )
        response = self._call("note create", self._notes.create, request, replay_safe=False)
        return _require(response, "note create").id

    def associate_calls_to_contacts(self, pairs: list[tuple[str, str]]) -> None:
        """Default (unlabelled) call→contact associations; re-associating is harmless."""
        for chunk in chunks(list(pairs)):
            request = associations_sdk.BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    associations_sdk.PublicDefaultAssociationMultiPost(
                        _from=associations_sdk.PublicObjectId(id=str(call_id)),
                        to=associations_sdk.PublicObjectId(id=str(contact_id)),
                    )
                    for call_id, contact_id in chunk
                ]
            )
            self._call(
                "associate calls", self._associations.create_default, "calls", "contacts", request
            )

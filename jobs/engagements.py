"""Write call engagements: exactly one per Talkstack call, updated in place afterwards.

HubSpot has no idempotency key for creates. Every engagement carries its Talkstack call id
in a unique call property, and a call is marked before its create is sent: a marked call
without a stored engagement id (the worker died, or the request timed out, after HubSpot
applied the create) is looked up by that property before anything is created again, and a
create HubSpot refuses as a duplicate (409) is retried through that lookup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from domain.outcomes import ENGAGEMENT_ID_PROPERTY
from integrations.errors import (
    ConflictError,
    IntegrationError,
    TransientError,
    UnknownPropertyError,
)
from integrations.hubspot_types import CallInput
from jobs.hubspot_schema import ensure_call_schema
from store.clock import utcnow
from store.models import Call

log = logging.getLogger(__name__)


@dataclass
class Target:
    talkstack_id: str
    hubspot_id: str | None
    create_sent_at: datetime | None


def send_engagements(rt, rows) -> list[tuple[str, str]]:
    """Create or update one engagement per call in `rows` (the newest write per call wins).

    Returns (str(call id), message) for each call HubSpot refused.
    """
    latest = {row.call_id: row for row in rows}  # rows come in id order
    targets = _targets(rt, list(latest))
    _recover_lost_creates(rt, targets)
    creates = [cid for cid in latest if cid in targets and not targets[cid].hubspot_id]
    updates = [
        (targets[cid].hubspot_id, _properties(latest[cid], targets[cid]))
        for cid in latest
        if cid in targets and targets[cid].hubspot_id
    ]
    errors: list[tuple[str, str]] = []
    if updates:
        by_engagement = {t.hubspot_id: str(cid) for cid, t in targets.items() if t.hubspot_id}
        errors += [
            (by_engagement.get(key, key), message)
            for key, message in rt.hubspot.update_calls(updates).errors
        ]
    if creates:
        errors += _create(rt, [(cid, latest[cid], targets[cid]) for cid in creates])
    return errors


def _properties(row, target: Target) -> dict:
    return {**row.payload["properties"], ENGAGEMENT_ID_PROPERTY: target.talkstack_id}


def _targets(rt, call_ids: list[int]) -> dict[int, Target]:
    with rt.db.session() as session:
        found = session.execute(
            select(
                Call.id,
                Call.talkstack_call_id,
                Call.hubspot_call_id,
                Call.engagement_create_sent_at,
            ).where(Call.id.in_(call_ids))
        ).all()
    return {cid: Target(talkstack, hubspot, sent) for cid, talkstack, hubspot, sent in found}


def _recover_lost_creates(rt, targets: dict[int, Target]) -> None:
    """Find the engagements of calls whose create was sent but never answered."""
    unsure = {
        t.talkstack_id: cid for cid, t in targets.items() if t.create_sent_at and not t.hubspot_id
    }
    if not unsure:
        return
    try:
        found = rt.hubspot.find_calls(ENGAGEMENT_ID_PROPERTY, list(unsure))
    except UnknownPropertyError:
        return  # the property does not exist yet, so no engagement carries it
    if found:
        log.info("found %d engagements created by an unanswered request", len(found))
    _store_engagement_ids(rt, {unsure[value]: hubspot_id for value, hubspot_id in found.items()})
    for value, hubspot_id in found.items():
        targets[unsure[value]].hubspot_id = hubspot_id


def _create(rt, items) -> list[tuple[str, str]]:
    _mark_create_sent(rt, [cid for cid, _row, _target in items])
    inputs = [
        CallInput(
            trace_id=str(cid),
            properties=_properties(row, target),
            contact_id=row.payload.get("contactId"),
        )
        for cid, row, target in items
    ]
    try:
        created = _create_with_schema(rt, inputs)
    except ConflictError as exc:
        # An earlier create of some of these landed after all: look them up, then retry.
        raise TransientError(
            f"{exc.message} (looking them up before retrying)", status=exc.status, vendor=exc.vendor
        ) from None
    except IntegrationError as exc:
        partial = getattr(exc, "partial_outcome", None)
        if partial is not None:
            _store_engagement_ids(rt, {int(t): h for t, h in partial.results.items()})
        raise
    _store_engagement_ids(rt, {int(t): h for t, h in created.results.items()})
    return created.errors


def _create_with_schema(rt, inputs: list[CallInput]):
    try:
        return rt.hubspot.create_calls(inputs)
    except UnknownPropertyError as exc:
        if ENGAGEMENT_ID_PROPERTY not in exc.properties:
            raise
    log.warning(
        "HubSpot has no call property %r; creating it as `flask connector setup` does",
        ENGAGEMENT_ID_PROPERTY,
    )
    ensure_call_schema(rt.hubspot)
    return rt.hubspot.create_calls(inputs)


def _mark_create_sent(rt, call_ids: list[int]) -> None:
    with rt.db.session() as session:  # committed before the request leaves
        session.execute(
            update(Call).where(Call.id.in_(call_ids)).values(engagement_create_sent_at=utcnow())
        )


def _store_engagement_ids(rt, by_call: dict[int, str]) -> None:
    if not by_call:
        return
    with rt.db.session() as session:
        for call in session.scalars(select(Call).where(Call.id.in_(list(by_call)))):
            call.hubspot_call_id = by_call[call.id]

"""Durable, deduplicated record of inbound deliveries (written before the 2xx)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.clock import utcnow
from store.db import Database
from store.models import InboundEvent


@dataclass(frozen=True)
class IncomingItem:
    dedupe_key: str
    raw_body: bytes
    payload: dict | None
    content_type: str | None = None
    state: str = "pending"


def record(db: Database, source: str, items: list[IncomingItem]) -> list[int]:
    """Insert items, ignoring ones already recorded; return the ids of the new rows.

    The UNIQUE (source, dedupe_key) constraint is the deduplication: a redelivery that
    reaches another web process still inserts nothing.
    """
    if not items:
        return []
    insert = sqlite_insert if db.is_sqlite else pg_insert
    now = utcnow()
    rows = [
        {
            "source": source,
            "dedupe_key": item.dedupe_key[:255],
            "raw_body": item.raw_body,
            "payload": item.payload,
            "content_type": item.content_type,
            "state": item.state,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for item in items
    ]
    with db.session() as session:
        statement = (
            insert(InboundEvent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
            .returning(InboundEvent.id, InboundEvent.state)
        )
        inserted = session.execute(statement).all()
    return [row.id for row in inserted if row.state == "pending"]


def find(db: Database, source: str, dedupe_key: str) -> InboundEvent | None:
    with db.session() as session:
        return session.scalar(
            select(InboundEvent).where(
                InboundEvent.source == source, InboundEvent.dedupe_key == dedupe_key[:255]
            )
        )

"""Durable, deduplicated record of inbound deliveries (written before the 2xx)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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
    # Core, not the ORM session: this is the hot path of every delivery, and rows go as
    # executemany parameters, so the statement compiles once per process.
    with db.engine.begin() as conn:
        inserted = conn.execute(_insert_statement(db.is_sqlite), rows).all()
    return [row.id for row in inserted if row.state == "pending"]


@lru_cache(maxsize=2)
def _insert_statement(sqlite: bool):
    insert = sqlite_insert if sqlite else pg_insert
    return (
        insert(InboundEvent.__table__)
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(InboundEvent.__table__.c.id, InboundEvent.__table__.c.state,
                   sort_by_parameter_order=True)
    )


def find(db: Database, source: str, dedupe_key: str) -> InboundEvent | None:
    with db.session() as session:
        return session.scalar(
            select(InboundEvent).where(
                InboundEvent.source == source, InboundEvent.dedupe_key == dedupe_key[:255]
            )
        )

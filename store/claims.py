"""Leases: how a worker takes a row of work, and how a dead worker's row comes back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.clock import utcnow
from store.db import Database
from store.models import Lock


def free(model):
    """Not held by a live lease."""
    now = utcnow()
    return or_(model.lease_until.is_(None), model.lease_until < now)


def due(model):
    now = utcnow()
    return or_(model.not_before.is_(None), model.not_before <= now)


def claim_ids(
    db: Database, model, where, *, limit: int, lease_seconds: int, order_by=None
) -> list[int]:
    """Lease up to `limit` rows matching `where` that no live lease holds."""
    lease_until = utcnow() + timedelta(seconds=lease_seconds)
    with db.session() as session:
        query = select(model.id).where(and_(where, free(model)))
        query = query.order_by(order_by if order_by is not None else model.id).limit(limit)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if not ids:
            return []
        claimed = (
            session.execute(
                update(model)
                .where(model.id.in_(ids), where, free(model))
                .values(lease_until=lease_until)
                .returning(model.id)
            )
            .scalars()
            .all()
        )
    return sorted(claimed)


def claim_one(db: Database, model, row_id: int, where, *, lease_seconds: int) -> bool:
    lease_until = utcnow() + timedelta(seconds=lease_seconds)
    with db.session() as session:
        result = session.execute(
            update(model)
            .where(model.id == row_id, where, free(model))
            .values(lease_until=lease_until)
        )
        return result.rowcount == 1


def take_lock(db: Database, name: str, lease_seconds: int) -> bool:
    insert = sqlite_insert if db.is_sqlite else pg_insert
    with db.session() as session:
        session.execute(
            insert(Lock)
            .values(name=name, lease_until=None)
            .on_conflict_do_nothing(index_elements=["name"])
        )
    return _take(db, name, lease_seconds)


def _take(db: Database, name: str, lease_seconds: int) -> bool:
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(Lock)
            .where(Lock.name == name, or_(Lock.lease_until.is_(None), Lock.lease_until < now))
            .values(lease_until=now + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def renew_lock(db: Database, name: str, lease_seconds: int) -> None:
    with db.session() as session:
        session.execute(
            update(Lock)
            .where(Lock.name == name)
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        )


def release_lock(db: Database, name: str) -> None:
    with db.session() as session:
        session.execute(update(Lock).where(Lock.name == name).values(lease_until=None))

"""Storage: migrations match the models; leases hand work to exactly one worker."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import update

from store.claims import claim_ids, claim_one, release_lock, take_lock
from store.clock import utcnow
from store.models import Base, CallRequest


def test_migrations_create_exactly_the_models(rt):
    with rt.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def _requests(rt, n: int) -> list[int]:
    with rt.db.session() as session:
        rows = [
            CallRequest(trigger="api", trigger_key=f"k{i}", contact_id=str(i + 1), state="pending")
            for i in range(n)
        ]
        session.add_all(rows)
    return [row.id for row in rows]


def test_a_row_is_claimed_once_until_its_lease_runs_out(rt):
    (row_id,) = _requests(rt, 1)
    pending = CallRequest.state == "pending"
    assert claim_one(rt.db, CallRequest, row_id, pending, lease_seconds=30)
    assert not claim_one(rt.db, CallRequest, row_id, pending, lease_seconds=30)
    with rt.db.session() as session:  # the holder died: its lease is in the past
        session.execute(update(CallRequest).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert claim_one(rt.db, CallRequest, row_id, pending, lease_seconds=30)


def test_claim_ids_splits_work_between_claimers(rt):
    ids = _requests(rt, 10)
    first = claim_ids(rt.db, CallRequest, CallRequest.state == "pending", limit=6, lease_seconds=30)
    second = claim_ids(
        rt.db, CallRequest, CallRequest.state == "pending", limit=6, lease_seconds=30
    )
    assert len(first) == 6 and len(second) == 4
    assert sorted(first + second) == ids


def test_named_lock_is_exclusive(rt):
    assert take_lock(rt.db, "flush:x", 30)
    assert not take_lock(rt.db, "flush:x", 30)
    release_lock(rt.db, "flush:x")
    assert take_lock(rt.db, "flush:x", 30)

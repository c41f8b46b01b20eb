"""A fenced lease on one batch: the worker that holds it is the only one building,
uploading or settling that batch.

`store.claims.claim_one` answers only "did I get it"; a batch build can outlive one lease
period, so the holder renews it per chunk, and renewing checks the lease is still *its own*
(the exact `lease_until` it wrote). A holder that lost its lease stops instead of racing
the worker that took over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from store.claims import due, free
from store.clock import utcnow
from store.models import Batch

# States in which a batch still has work for `run_batch`.
WORKING_STATES = ("pending", "building", "uploading", "uploaded", "failed")


class LeaseLost(Exception):
    """Another worker holds the batch now (ours ran out); stop without writing."""


class BatchLease:
    def __init__(self, db, batch_id: int, seconds: int) -> None:
        self.db = db
        self.batch_id = batch_id
        self.seconds = seconds
        self.until: datetime | None = None

    def take(self) -> bool:
        until = self._next_until()
        with self.db.session() as session:
            result = session.execute(
                update(Batch)
                .where(Batch.id == self.batch_id, Batch.state.in_(WORKING_STATES),
                       free(Batch), due(Batch))
                .values(lease_until=until)
            )
            taken = result.rowcount == 1
        self.until = until if taken else None
        return taken

    def renew(self) -> None:
        until = self._next_until()
        with self.db.session() as session:
            self._move(session, until)
        self.until = until

    def check(self, session) -> None:
        """Inside a unit of work: fail (and so roll it back) unless the lease is ours."""
        until = self._next_until()
        self._move(session, until)
        self.until = until

    def release(self, session, **values) -> None:
        """Give the batch back (with any column changes) in the caller's unit of work."""
        result = session.execute(
            update(Batch).where(Batch.id == self.batch_id, Batch.lease_until == self.until)
            .values(lease_until=None, **values)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"batch {self.batch_id}")
        self.until = None

    def _move(self, session, until: datetime) -> None:
        result = session.execute(
            update(Batch).where(Batch.id == self.batch_id, Batch.lease_until == self.until)
            .values(lease_until=until)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"batch {self.batch_id}")

    def _next_until(self) -> datetime:
        until = utcnow() + timedelta(seconds=self.seconds)
        # Strictly increasing, so a renewal within the same microsecond still changes it.
        if self.until is not None and until <= self.until:
            until = self.until + timedelta(microseconds=1)
        return until

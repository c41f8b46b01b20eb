"""What the service must remember. The database, not the queue, is the record of work.

Every unit of work is a row with a `state` and a `lease_until`: a worker claims a row by
moving its lease forward, so a row held by a worker that died becomes claimable again
when the lease runs out (SPEC §8). Times are naive UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.clock import utcnow


class Base(DeclarativeBase):
    pass


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class InboundEvent(Timestamps, Base):
    """One accepted inbound delivery item, stored before the 2xx."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key", name="uq_inbound_source_key"),
        Index("ix_inbound_state", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict | None] = mapped_column(JSON)
    # pending | processing | done | ignored | unmatched | dead
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # When the sweeper last re-enqueued it: a backlog is not re-enqueued on every sweep.
    woken_at: Mapped[datetime | None] = mapped_column(DateTime)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)


class CallRequest(Timestamps, Base):
    """One trigger asking for a contact to be called; at most one per trigger_key."""

    __tablename__ = "call_requests"
    __table_args__ = (
        Index("ix_requests_state", "state", "not_before"),
        Index("ix_requests_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)
    trigger_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    contact_id: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_id: Mapped[str | None] = mapped_column(String(128))
    variables: Mapped[dict | None] = mapped_column(JSON)  # extra ones from the trigger
    # What the last dial sent: the contact's current values + `variables`, built afresh
    # for every attempt so a follow-up never sends stale contact data.
    dial_variables: Mapped[dict | None] = mapped_column(JSON)
    inbound_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_events.id"))
    batch_row_id: Mapped[int | None] = mapped_column(ForeignKey("batch_rows.id"))
    # pending | dialing | calling | done | skipped | failed | dead
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Set (and committed) just before makeCall: if the worker dies before the call id is
    # stored, the next attempt checks call history instead of dialling blindly again.
    dial_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Custom workflow action: the callback to complete when the last attempt is final.
    callback_id: Mapped[str | None] = mapped_column(String(255))
    callback_state: Mapped[str | None] = mapped_column(String(16))  # waiting | queued | completed

    calls: Mapped[list[Call]] = relationship(back_populates="request", order_by="Call.attempt")


class Call(Timestamps, Base):
    """A Talkstack call, started by us or seen first in a webhook."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_next_check", "next_check_at"),
        Index("ix_calls_contact", "contact_id"),
        Index("ix_calls_batch_row", "batch_row_id"),
        Index("ix_calls_to_number", "to_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    talkstack_call_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    call_request_id: Mapped[int | None] = mapped_column(ForeignKey("call_requests.id"))
    batch_row_id: Mapped[int | None] = mapped_column(ForeignKey("batch_rows.id"))
    attempt: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    contact_id: Mapped[str | None] = mapped_column(String(64))
    match: Mapped[str | None] = mapped_column(
        String(16)
    )  # request | variable | number | batch | none
    agent_id: Mapped[str | None] = mapped_column(String(128))
    to_number: Mapped[str | None] = mapped_column(String(32))
    from_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(32))
    is_final: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(32))
    seconds: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    record: Mapped[dict | None] = mapped_column(JSON)
    analysis: Mapped[dict | None] = mapped_column(JSON)
    hubspot_call_id: Mapped[str | None] = mapped_column(String(64))
    # Set before an engagement create is sent: a create whose answer never arrived (worker
    # killed, timeout) is looked up by talkstack_call_id before anything is created again.
    engagement_create_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    checks: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    request: Mapped[CallRequest | None] = relationship(back_populates="calls")


class HubSpotWrite(Timestamps, Base):
    """Outbox of HubSpot writes; flushed in batches of up to 100 per kind."""

    __tablename__ = "hubspot_writes"
    __table_args__ = (
        Index("ix_writes_kind_state", "kind", "state", "lease_until"),
        Index("ix_writes_call", "call_id"),
        Index("ix_writes_request", "call_request_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # call_engagement | contact_update | callback_complete
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    object_key: Mapped[str] = mapped_column(String(255), nullable=False)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    call_request_id: Mapped[int | None] = mapped_column(ForeignKey("call_requests.id"))
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class Batch(Timestamps, Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[dict] = mapped_column(JSON, nullable=False)
    agent_id: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(8), default="csv", nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # pending | building | uploading | uploaded | done | failed | dead
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)

    files: Mapped[list[BatchFile]] = relationship(order_by="BatchFile.index")


class BatchFile(Timestamps, Base):
    __tablename__ = "batch_files"
    __table_args__ = (UniqueConstraint("batch_id", "index", name="uq_batch_file_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), nullable=False)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(128), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime)
    upload_response: Mapped[dict | None] = mapped_column(JSON)


class BatchRow(Base):
    __tablename__ = "batch_rows"
    __table_args__ = (
        Index("ix_batch_rows_batch", "batch_id", "position"),
        Index("ix_batch_rows_number", "batch_id", "number"),
        Index("ix_batch_rows_contact", "batch_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    contact_id: Mapped[str] = mapped_column(String(64), nullable=False)
    number: Mapped[str | None] = mapped_column(String(32))
    # skipped | queued | uploaded | done | failed
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    file_index: Mapped[int | None] = mapped_column(Integer)
    call_id: Mapped[int | None] = mapped_column(Integer)
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime)


class DeadLetter(Base):
    """A unit of work that failed permanently; `flask connector replay` brings it back."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_open", "replayed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(32), nullable=False
    )  # event | request | call | write | batch
    ref_id: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime)


class CachedValue(Base):
    """Small values the worker fetches for the web tier (e.g. Talkstack agents), so that
    request handlers never call a vendor API."""

    __tablename__ = "cached_values"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict | list] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class Lock(Base):
    """A named lease shared by every worker (e.g. one HubSpot flush per kind at a time)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)

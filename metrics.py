"""Prometheus metrics. Counters for what this process did; gauges read from the database
at scrape time so any web process reports the whole deployment's state."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

# Set by gunicorn.conf.py before its workers start: each worker then keeps its counters in
# files there, and a scrape of any worker reports them summed (prometheus_client's
# multiprocess mode), not the one worker that happened to answer.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_RECEIVED = Counter(
    "connector_events_received", "Inbound deliveries accepted", ["source"], registry=REGISTRY
)
EVENTS_REJECTED = Counter(
    "connector_events_rejected",
    "Inbound deliveries rejected",
    ["source", "reason"],
    registry=REGISTRY,
)
CALLS_STARTED = Counter("connector_calls_started", "makeCall requests accepted", registry=REGISTRY)
CALLS_SKIPPED = Counter(
    "connector_calls_skipped", "Call requests skipped by policy", ["reason"], registry=REGISTRY
)
OUTCOMES_WRITTEN = Counter(
    "connector_outcomes_written", "HubSpot writes completed", ["kind"], registry=REGISTRY
)
VENDOR_REQUESTS = Counter(
    "connector_vendor_requests",
    "Outbound vendor requests",
    ["vendor", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "connector_rate_limit_wait_seconds",
    "Seconds spent waiting on the HubSpot rate limiter",
    registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "connector_http_request_seconds",
    "Time to answer inbound HTTP requests",
    ["endpoint"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)


class StateCollector:
    """Gauges computed from the database and the queue when Prometheus scrapes."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def describe(self):
        # prometheus_client calls describe() (else collect()) at registration: no DB here.
        return []

    def collect(self):
        from sqlalchemy import func, select

        from store.models import CallRequest, DeadLetter, HubSpotWrite, InboundEvent

        queue = GaugeMetricFamily("connector_queue_depth", "Jobs waiting in the queue")
        try:
            queue.add_metric([], self.runtime.queue.pending_count())
        except Exception:  # a scrape must not fail because the queue is briefly away
            return
        yield queue
        tables = (
            ("connector_inbound_events", InboundEvent),
            ("connector_call_requests", CallRequest),
            ("connector_hubspot_writes", HubSpotWrite),
        )
        with self.runtime.db.session() as session:
            for name, model in tables:
                family = GaugeMetricFamily(
                    name, f"Rows in {model.__tablename__} by state", labels=["state"]
                )
                rows = session.execute(select(model.state, func.count()).group_by(model.state))
                for state, count in rows:
                    family.add_metric([state], count)
                yield family
            dead = session.scalar(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
            )
            family = GaugeMetricFamily("connector_dead_letters", "Dead letters not yet replayed")
            family.add_metric([], dead or 0)
            yield family


# Collectors that read deployment state (database, queue, health checks): one of each kind
# per process, and the newest wins (tests build many apps in one process).
_state_collectors: dict[str, object] = {}


def install_collector(kind: str, collector):
    old = _state_collectors.pop(kind, None)
    if old is not None:
        REGISTRY.unregister(old)
    REGISTRY.register(collector)
    _state_collectors[kind] = collector
    return collector


def install_state_collector(runtime) -> StateCollector:
    return install_collector("state", StateCollector(runtime))


def exposition() -> bytes:
    """The body of GET /metrics: counters of every process sharing the multiprocess
    directory (or of this process alone), plus the database-derived gauges."""
    if not os.environ.get(MULTIPROCESS_DIR_ENV):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in _state_collectors.values():
        registry.register(collector)
    return generate_latest(registry)

"""Call-status webhook delivery for the Talkstack simulator.

Talkstack documents no delivery contract (reference §6), so the simulator can misbehave in
every way a receiver must survive: drops, duplicates, delays, reordering, JSON or form bodies.
Events sit in a heap ordered by due time; one background thread delivers them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

log = logging.getLogger(__name__)

SHAPES = ("json", "form", "mixed")
DELIVERY_TIMEOUT = (0.5, 2.0)

# payload_for(sid, status, generation, shape) -> body, or None when the event went stale.
PayloadFor = Callable[[str, str, int, str], "dict | None"]


@dataclass
class WebhookConfig:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_seconds: float = 0.0
    reorder: bool = False
    shape: str = "json"
    intermediate: bool = True


@dataclass
class WebhookDelivery:
    sid: str
    status: str
    shape: str
    url: str
    at: float
    dropped: bool = False
    duplicate: bool = False
    http_status: int | None = None
    error: str | None = None


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    sid: str = field(compare=False)
    status: str = field(compare=False)
    final: bool = field(compare=False)
    generation: int = field(compare=False)
    delayed: bool = field(compare=False, default=False)


class WebhookDispatcher:
    def __init__(
        self,
        *,
        payload_for: PayloadFor,
        url_for: Callable[[], str | None],
        seed: object = None,
        timeout: tuple[float, float] = DELIVERY_TIMEOUT,
    ) -> None:
        self._payload_for = payload_for
        self._url_for = url_for
        self._rng = random.Random(None if seed is None else f"{seed}|webhooks")
        self._timeout = timeout
        self._cond = threading.Condition()
        self._heap: list[_Event] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sent = 0
        self._http = requests.Session()
        self.config = WebhookConfig()
        self.deliveries: list[WebhookDelivery] = []
        self.failures = 0

    def configure(self, **settings: object) -> WebhookConfig:
        unknown = set(settings) - set(WebhookConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown webhook settings: {sorted(unknown)}")
        merged = {**self.config.__dict__, **settings}
        config = WebhookConfig(
            drop_rate=float(merged["drop_rate"]),
            duplicate_rate=float(merged["duplicate_rate"]),
            delay_seconds=max(float(merged["delay_seconds"]), 0.0),
            reorder=bool(merged["reorder"]),
            shape=str(merged["shape"]),
            intermediate=bool(merged["intermediate"]),
        )
        if config.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        for name in ("drop_rate", "duplicate_rate"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        self.config = config
        return config

    def schedule(
        self, sid: str, status: str, due_mono: float, *, final: bool, generation: int
    ) -> None:
        event = _Event(due_mono, next(self._seq), sid, status, final, generation)
        with self._cond:
            heapq.heappush(self._heap, event)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self.deliveries.clear()
            self.failures = 0
            self.config = WebhookConfig()

    def start(self) -> None:
        with self._cond:
            if self._thread and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="talkstack-sim-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread:
            thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while True:
            due = self._wait_for_due()
            if due is None:
                return
            if self.config.reorder:
                self._rng.shuffle(due)
            for event in due:
                try:
                    self._handle(event)
                except Exception:  # one bad event must not kill the delivery thread
                    log.exception("talkstack simulator: webhook event failed")

    def _wait_for_due(self) -> list[_Event] | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0].due <= now:
                    due = []
                    while self._heap and self._heap[0].due <= now:
                        due.append(heapq.heappop(self._heap))
                    return due
                self._cond.wait(self._heap[0].due - now if self._heap else None)
            return None

    def _handle(self, event: _Event) -> None:
        config = self.config
        if not event.delayed and (config.delay_seconds > 0 or config.reorder):
            # Delay from the moment of the status change, with jitter when reordering.
            jitter = self._rng.uniform(0, max(config.delay_seconds, 0.05)) if config.reorder else 0
            event.delayed = True
            event.due = time.monotonic() + config.delay_seconds + jitter
            with self._cond:
                heapq.heappush(self._heap, event)
                self._cond.notify()
            return
        if not event.final and not config.intermediate:
            return
        url = self._url_for()
        if not url:
            return
        shape = self._next_shape(config.shape)
        rendered = self._payload_for(event.sid, event.status, event.generation, shape)
        if rendered is None:
            return  # call reset or forced final since this event was scheduled
        if self._rng.random() < config.drop_rate:
            self._record(
                WebhookDelivery(event.sid, event.status, shape, url, time.time(), dropped=True)
            )
            return
        self._post(event, shape, url, rendered, duplicate=False)
        if self._rng.random() < config.duplicate_rate:
            self._post(event, shape, url, rendered, duplicate=True)

    def _next_shape(self, configured: str) -> str:
        if configured != "mixed":
            return configured
        self._sent += 1
        return "json" if self._sent % 2 else "form"

    def _post(self, event: _Event, shape: str, url: str, body: dict, *, duplicate: bool) -> None:
        delivery = WebhookDelivery(
            event.sid, event.status, shape, url, time.time(), duplicate=duplicate
        )
        kwargs = {"json": body} if shape == "json" else {"data": body}
        try:
            response = self._http.post(url, timeout=self._timeout, **kwargs)
            delivery.http_status = response.status_code
            if response.status_code >= 300:
                self.failures += 1
        except requests.RequestException as exc:
            delivery.error = type(exc).__name__
            self.failures += 1
        self._record(delivery)

    def _record(self, delivery: WebhookDelivery) -> None:
        with self._cond:
            self.deliveries.append(delivery)

"""A moving-window request limiter shared by every worker that talks to one vendor.

Built on `limits`: with `memory://` the window is shared by every limiter in this process
that uses the same key; with `redis://...` it is shared by every process using that Redis,
so N workers together never exceed `limit` requests per `per_seconds`. After a 429,
`pause()` stores a "blocked until" deadline in the same storage so everyone backs off.

Window entries are stamped with `time.time()` by `limits` itself, so processes sharing a
Redis must share a clock (same machine, or NTP-synchronised machines).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

MIN_SLEEP_SECONDS = 0.005  # never spin: a free slot is at least this far away

# Stores deadlines only as long as needed, and keeps the max of concurrent pauses.
_PAUSE_SCRIPT = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
local until_ts = tonumber(ARGV[1])
if until_ts > current then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""

_local_lock = threading.Lock()
_memory_storages: dict[str, MemoryStorage] = {}
_local_pauses: dict[str, float] = {}


def _storage_for(uri: str):
    """One MemoryStorage per URI per process (so threads share it); Redis etc. as given."""
    if not uri.startswith("memory://"):
        return storage_from_string(uri)
    with _local_lock:
        if uri not in _memory_storages:
            _memory_storages[uri] = storage_from_string(uri)
        return _memory_storages[uri]


class RateLimiter:
    def __init__(
        self,
        limit: int,
        per_seconds: int = 10,
        *,
        storage_uri: str = "memory://",
        key: str = "hubspot",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if limit < 1 or per_seconds < 1:
            raise ValueError("limit and per_seconds must be positive")
        self.limit = limit
        self.per_seconds = per_seconds
        self.key = key
        self._item = RateLimitItemPerSecond(limit, per_seconds)
        self._storage = _storage_for(storage_uri)
        self._window = MovingWindowRateLimiter(self._storage)
        self._sleep = sleep
        self._clock = clock
        self._on_wait = on_wait
        # Redis-backed storages expose their client; the pause deadline lives beside the window.
        get_connection = getattr(self._storage, "get_connection", None)
        self._redis = get_connection() if get_connection else None
        self._pause_key = f"ratelimit:{key}:blocked_until"
        self._pause_script = self._redis.register_script(_PAUSE_SCRIPT) if self._redis else None

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting."""
        waited = 0.0
        while True:
            delay = self._pause_remaining()
            if delay <= 0:
                if self._window.hit(self._item, self.key):
                    break
                delay = self._window_remaining()
            self._sleep(delay)
            waited += delay
        if waited and self._on_wait is not None:
            self._on_wait(waited)
        return waited

    def pause(self, seconds: float) -> None:
        """Hold back every limiter sharing this storage for `seconds` (e.g. a Retry-After)."""
        if seconds <= 0:
            return
        until = self._clock() + seconds
        if self._redis is None:
            with _local_lock:
                _local_pauses[self._pause_key] = max(_local_pauses.get(self._pause_key, 0.0), until)
            return
        self._pause_script(keys=[self._pause_key], args=[repr(until), int(seconds * 1000) + 1])

    def _pause_remaining(self) -> float:
        if self._redis is None:
            with _local_lock:
                until = _local_pauses.get(self._pause_key, 0.0)
        else:
            raw = self._redis.get(self._pause_key)
            until = float(raw) if raw else 0.0
        return until - self._clock()

    def _window_remaining(self) -> float:
        reset_at = self._window.get_window_stats(self._item, self.key).reset_time
        return min(max(reset_at - time.time(), MIN_SLEEP_SECONDS), float(self.per_seconds))

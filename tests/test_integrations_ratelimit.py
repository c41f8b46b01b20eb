"""The shared moving-window limiter: in-process and across processes through Redis."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest
import redis

from integrations.ratelimit import RateLimiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_unreachable_reason() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})"
    return None


_NO_REDIS = _redis_unreachable_reason()
requires_redis = pytest.mark.skipif(_NO_REDIS is not None, reason=_NO_REDIS or "")


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def unique_key() -> str:
    return f"test-{uuid.uuid4().hex}"


def max_in_window(stamps: list[float], window: float) -> int:
    """Most timestamps that fall inside any half-open window of `window` seconds."""
    stamps = sorted(stamps)
    most, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_acquire_is_free_until_the_limit_then_waits_for_the_oldest_slot():
    waits: list[float] = []
    limiter = RateLimiter(3, 1, key=unique_key(), on_wait=waits.append)
    started = time.monotonic()
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert waits == []

    waited = limiter.acquire()

    assert 0.5 < waited <= 1.05
    assert time.monotonic() - started >= 0.95
    assert waits == [waited]


def test_limiters_in_one_process_share_a_memory_window():
    key = unique_key()
    first, second = RateLimiter(2, 1, key=key), RateLimiter(2, 1, key=key)
    assert first.acquire() == 0.0
    assert second.acquire() == 0.0

    assert second.acquire() > 0.5  # first's slot counts against second


def test_pause_holds_back_every_limiter_sharing_the_key():
    key = unique_key()
    fake = FakeTime()
    waits: list[float] = []
    paused_by = RateLimiter(100, 10, key=key, sleep=fake.sleep, clock=fake.clock)
    other = RateLimiter(100, 10, key=key, sleep=fake.sleep, clock=fake.clock, on_wait=waits.append)

    paused_by.pause(2.5)
    waited = other.acquire()

    assert waited == pytest.approx(2.5)
    assert waits == [pytest.approx(2.5)]
    assert other.acquire() == 0.0  # the deadline has passed


def test_a_shorter_pause_never_shortens_a_longer_one():
    fake = FakeTime()
    limiter = RateLimiter(100, 10, key=unique_key(), sleep=fake.sleep, clock=fake.clock)
    limiter.pause(5)
    limiter.pause(1)
    assert limiter.acquire() == pytest.approx(5)


def test_pause_does_not_leak_to_other_keys():
    fake = FakeTime()
    RateLimiter(10, 10, key=unique_key(), sleep=fake.sleep, clock=fake.clock).pause(30)
    other = RateLimiter(10, 10, key=unique_key(), sleep=fake.sleep, clock=fake.clock)
    assert other.acquire() == 0.0


def test_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        RateLimiter(0, 10)


@pytest.mark.redis
@requires_redis
def test_redis_pause_is_seen_by_another_limiter():
    key = unique_key()
    fake = FakeTime()
    pauser = RateLimiter(50, 10, storage_uri=REDIS_URL, key=key, clock=fake.clock)
    waiter = RateLimiter(50, 10, storage_uri=REDIS_URL, key=key, sleep=fake.sleep, clock=fake.clock)
    pauser.pause(3)
    assert waiter.acquire() == pytest.approx(3, abs=0.01)
    ttl_ms = redis.Redis.from_url(REDIS_URL).pttl(f"ratelimit:{key}:blocked_until")
    assert 0 < ttl_ms <= 3001  # the deadline expires by itself


def _acquire_and_record(uri: str, key: str, count: int, queue) -> None:
    limiter = RateLimiter(20, 1, storage_uri=uri, key=key)
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.time())
    queue.put(stamps)


@pytest.mark.redis
@requires_redis
def test_redis_shares_one_window_across_processes():
    key = unique_key()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_acquire_and_record, args=(REDIS_URL, key, 25, queue))
        for _ in range(3)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    stamps = [stamp for _ in workers for stamp in queue.get(timeout=20)]
    for worker in workers:
        worker.join(timeout=5)
        assert worker.exitcode == 0

    assert len(stamps) == 75
    # 75 slots at 20/s need at least three full windows after the first burst.
    assert time.monotonic() - started >= 3.0
    # Stamps are taken just after acquire() returns; allow a few ms of scheduling slack.
    assert max_in_window(stamps, 1.0 - 0.02) <= 20

"""The job queue: huey on SQLite (embedded) or Redis (scale-out).

The queue only carries wake-ups ("look at event 17"); what still has to happen is in the
database, so a task lost with a killed worker is found again by the sweeper.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

QUEUE_NAME = "connector"


class QueueConfigError(ValueError):
    pass


def build_huey(url: str, name: str = QUEUE_NAME) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False, utc=True)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        # No fsync: the queue only carries wake-ups; the database and the sweeper recover
        # anything a crash loses, and an fsync per enqueue costs ~10 ms.
        return SqliteHuey(name, filename=str(path), results=False, utc=True, timeout=30,
                          fsync=False)
    raise QueueConfigError(f"QUEUE_URL must be redis://... or sqlite:///..., got {url!r}")


class JobQueue:
    """Named tasks bound to one runtime; `enqueue(name, *args, delay=...)`."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._tasks: dict[str, Callable] = {}

    def register(self, name: str, function: Callable) -> None:
        def run(*args):
            return function(*args)

        run.__name__ = name
        self._tasks[name] = self.huey.task(name=name)(run)

    def enqueue(self, name: str, *args, delay: float | None = None) -> None:
        task = self._tasks[name]
        if delay and delay > 0:
            task.schedule(args=args, delay=delay)
        else:
            task(*args)

    def pending_count(self) -> int:
        return self.huey.pending_count()

    def scheduled_count(self) -> int:
        return self.huey.scheduled_count()

    def ping(self) -> None:
        self.huey.pending_count()

    def flush(self) -> None:
        self.huey.flush()

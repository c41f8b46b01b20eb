"""The task table: queue names → functions. Each task takes ids, reads the database, and
is safe to run twice (claims and unique keys make the second run a no-op)."""

from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)


def _task_table():
    from jobs.agents import refresh_agents
    from jobs.batches import run_batch
    from jobs.calls import dispatch_requests, place_call
    from jobs.events import process_event, process_events
    from jobs.health import refresh_health
    from jobs.outcomes import reconcile_call
    from jobs.sweeper import sweep
    from jobs.writes import flush_writes

    return {
        "process_event": process_event,
        "process_events": process_events,
        "dispatch_requests": dispatch_requests,
        "place_call": place_call,
        "reconcile_call": reconcile_call,
        "flush_writes": flush_writes,
        "run_batch": run_batch,
        "refresh_agents": refresh_agents,
        "refresh_health": refresh_health,
        "sweep": sweep,
    }


def _bound(rt, name, function):
    @functools.wraps(function)
    def run(*args):
        try:
            return function(rt, *args)
        except Exception:
            # The database still says what is left to do; the sweeper will retry it.
            log.exception("task %s%r failed", name, args)

    return run


def register_tasks(rt) -> None:
    for name, function in _task_table().items():
        rt.queue.register(name, _bound(rt, name, function))

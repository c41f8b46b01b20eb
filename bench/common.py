"""Shared pieces of the benchmarks: simulators on loopback, a connector deployment from the
Procfile (the fault suite's process helpers), a bare Flask app to compare against,
percentiles and result printing.

Every benchmark runs on loopback only, with bounded counts and times.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults.harness import Stack, reset_postgres  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def create_bare_app():
    """gunicorn factory (`bench.common:create_bare_app()`): the comparison endpoint, a
    Flask app that answers the same route with 204 and nothing else."""
    from flask import Flask

    app = Flask("bare")

    @app.post("/webhooks/hubspot")
    def bare_webhook():
        return "", 204

    @app.get("/readyz")
    def bare_ready():
        return {"status": "ready"}

    return app


@contextmanager
def simulators(*, final_after_seconds: float = 0.3, seed: int = 11):
    """Both simulators served on loopback by this process (quietly)."""
    from simulators.hubspot import HubSpotSimulator
    from simulators.server import serve
    from simulators.talkstack import TalkstackSimulator

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    hubspot = HubSpotSimulator()
    hubspot.start()
    talkstack = TalkstackSimulator(final_after_seconds=final_after_seconds, seed=seed)
    server = serve(talkstack.wsgi_app)
    talkstack.url = server.url
    talkstack.start()
    try:
        yield hubspot, talkstack
    finally:
        talkstack.stop()
        server.stop()
        hubspot.stop()


def connector_env(hubspot, talkstack, workdir: Path) -> dict:
    """Every SPEC §3 variable, pointed at the simulators; embedded storage under `workdir`."""
    return {
        "HUBSPOT_ACCESS_TOKEN": hubspot.access_token,
        "HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "HUBSPOT_API_BASE": hubspot.url,
        "TALKSTACK_API_KEY": talkstack.api_key,
        "TALKSTACK_API_BASE": talkstack.url,
        "TALKSTACK_CALLS_BASE": talkstack.url,
        "TALKSTACK_PROJECT_ID": talkstack.project_id,
        "TALKSTACK_AGENT_ID": "agent-default",
        "TALKSTACK_WEBHOOK_TOKEN": "whtok-" + uuid.uuid4().hex,
        "API_TOKEN": "api-" + uuid.uuid4().hex,
        "INSTANCE_PATH": str(workdir / "instance"),
        "QUEUE_NAME": "bench" + uuid.uuid4().hex[:8],
    }


def add_storage_options(parser) -> None:
    """--database-url / --redis-url: measure on PostgreSQL + Redis instead of embedded."""
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL URL of a scratch database (its schema is WIPED)")
    parser.add_argument("--redis-url", default="", help="Redis URL for the queue and limiter")


def storage_overrides(args) -> dict:
    overrides = {}
    if args.database_url:
        reset_postgres(args.database_url)
        overrides["DATABASE_URL"] = args.database_url
    if args.redis_url:
        overrides["REDIS_URL"] = args.redis_url
    return overrides


def storage_label(args) -> str:
    database = "PostgreSQL" if args.database_url else "SQLite"
    queue = "Redis" if args.redis_url else "SQLite queue"
    return f"{database} + {queue}"


@contextmanager
def deployment(hubspot, talkstack, **overrides):
    """A released connector deployment (migrated, set up) in a temporary directory; start
    its web and worker processes with `.start_web()` / `.start_worker()`."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        stack = Stack(connector_env(hubspot, talkstack, workdir), hubspot, talkstack, workdir,
                      **overrides)
        try:
            stack.release()
            yield stack
        finally:
            stack.stop()


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "") -> float:
    """Poll until `predicate()` is truthy; return the seconds waited (raise on timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"gave up after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
    return time.monotonic() - started


def print_results(title: str, rows: list[tuple[str, str]], raw: dict) -> None:
    """A small aligned table for people, then one JSON line for scripts."""
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    print("RESULT " + json.dumps(raw, sort_keys=True))

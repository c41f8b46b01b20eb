"""Shared fixtures: both simulators over loopback, the app on SQLite or PostgreSQL, the
queue on SQLite or Redis, and a real in-process worker.

Backends: by default SQLite + the SQLite queue. With TEST_DATABASE_URL (PostgreSQL) and
TEST_REDIS_URL set, the same tests run on PostgreSQL + Redis (CI runs both).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

from simulators.hubspot import HubSpotSimulator
from simulators.server import serve
from simulators.talkstack import TalkstackSimulator
from tests.faults.harness import reset_postgres

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
# scripts/test's second pass: only tests whose outcome the database or queue can change.
BACKEND_PASS = os.environ.get("TEST_BACKEND_PASS") == "1"


def pytest_collection_modifyitems(config, items):
    """In the backend pass, deselect tests that build no app (`env`) and are not marked
    postgres/redis: pure functions, clients and simulators already ran in the first pass."""
    if not BACKEND_PASS:
        return
    keep, drop = [], []
    for item in items:
        uses_backend = "env" in item.fixturenames or any(
            item.get_closest_marker(name) for name in ("postgres", "redis"))
        (keep if uses_backend else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, message: str = ""):
    """Poll `predicate` until it returns a truthy value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def make_calls(talkstack_sim, calls: list[tuple[str, str]]) -> list[str]:
    """Place calls straight through the simulator's makeCall, echoing the contact id."""
    with requests.Session() as http:
        sids = []
        for number, contact_id in calls:
            response = http.post(f"{talkstack_sim.url}/call/makeCall", timeout=5,
                                 headers={"x-api-key": talkstack_sim.api_key},
                                 json={"number": number, "projectId": talkstack_sim.project_id,
                                       "agentId": "agent-default",
                                       "dynamicVariables": {"hubspot_contact_id": contact_id}})
            sids.append(response.json()["call"]["call_id"])
    return sids


@pytest.fixture
def hubspot_sim():
    sim = HubSpotSimulator()
    server = serve(sim.wsgi_app)
    sim.url = server.url
    yield sim
    server.stop()


@pytest.fixture(scope="module")
def running_hubspot_sim():
    """One HubSpot simulator server per test module (for client and simulator tests)."""
    sim = HubSpotSimulator()
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(running_hubspot_sim):
    """The module's HubSpot simulator, reset for this test."""
    running_hubspot_sim.reset()
    return running_hubspot_sim


@pytest.fixture
def talkstack_sim():
    sim = TalkstackSimulator(final_after_seconds=0.2, seed=7)
    server = serve(sim.wsgi_app)
    sim.url = server.url
    sim.start()
    yield sim
    sim.stop()
    server.stop()


@pytest.fixture
def env(tmp_path, hubspot_sim, talkstack_sim):
    """Environment for create_app: every SPEC §3 variable pointed at the simulators."""
    values = {
        "HUBSPOT_ACCESS_TOKEN": hubspot_sim.access_token,
        "HUBSPOT_CLIENT_SECRET": hubspot_sim.client_secret,
        "HUBSPOT_API_BASE": hubspot_sim.url,
        "HUBSPOT_DEVELOPER_API_KEY": hubspot_sim.developer_api_key,
        "HUBSPOT_APP_ID": str(hubspot_sim.app_id),
        "TALKSTACK_API_KEY": talkstack_sim.api_key,
        "TALKSTACK_API_BASE": talkstack_sim.url,
        "TALKSTACK_CALLS_BASE": talkstack_sim.url,
        "TALKSTACK_PROJECT_ID": talkstack_sim.project_id,
        "TALKSTACK_AGENT_ID": "agent-default",
        "TALKSTACK_WEBHOOK_TOKEN": "whtok-" + uuid.uuid4().hex,
        "PUBLIC_BASE_URL": "https://connector.example.com",
        "API_TOKEN": "api-" + uuid.uuid4().hex,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SWEEP_INTERVAL_SECONDS": "0.5",
        # A short outbox linger: most tests write a few records and would only wait for a
        # batch that never fills. Tests about batching set the production 1.5 s.
        "OUTBOX_LINGER_SECONDS": "0.2",
        "RECONCILE_AFTER_SECONDS": "120",
        "QUEUE_NAME": "t" + uuid.uuid4().hex[:12],
    }
    if PG_URL:
        reset_postgres(PG_URL)
        values["DATABASE_URL"] = PG_URL
    if REDIS_URL:
        values["REDIS_URL"] = REDIS_URL
    return values


@pytest.fixture
def make_app(env):
    """Build an app with extra env overrides; every runtime built is closed afterwards."""
    built = []

    def build(**overrides):
        from app import create_app
        from config import load_settings
        from runtime import Runtime
        from store.migrate import upgrade

        settings = load_settings(
            {**env, **{k: str(v) for k, v in overrides.items()}}, dotenv_path=None
        )
        rt = Runtime(settings)
        upgrade(rt.db)
        application = create_app(settings, runtime=rt)
        application.config["TESTING"] = True
        built.append(rt)
        return application

    yield build
    for rt in built:
        if REDIS_URL:
            rt.queue.flush()
        rt.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def rt(app):
    return app.extensions["connector"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api_headers(rt):
    return {"Authorization": f"Bearer {rt.settings.api_token}"}


@pytest.fixture
def worker(rt):
    """A real huey consumer (threads) plus the sweeper, in this process."""
    from jobs.worker import Worker

    running = Worker(rt, threads=4, sweep_interval=0.5)
    running.start()
    yield running
    running.stop()


class SwappableApp:
    """A WSGI app whose target is set after its server (and so its URL) exists; also lets
    one module-scoped server serve a fresh app per test (stopping a server costs time)."""

    target = None

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


@pytest.fixture
def live(make_app, talkstack_sim):
    """The connector served over real HTTP on loopback, with PUBLIC_BASE_URL = its URL,
    HubSpot properties set up and the Talkstack webhook registered (SPEC §9 setup).

    Returns a builder: live(**env_overrides) -> (app, url)."""
    from cli_setup import run_setup

    servers = []

    def build(**overrides):
        indirection = SwappableApp()
        server = serve(indirection)
        servers.append(server)
        application = make_app(PUBLIC_BASE_URL=server.url, **overrides)
        indirection.target = application
        run_setup(application.extensions["connector"], echo=lambda *_a: None)
        return application, server.url

    yield build
    for server in servers:
        server.stop()


@pytest.fixture
def setup_done(rt):
    """HubSpot properties created and the Talkstack webhook registered."""
    from cli_setup import run_setup

    return run_setup(rt, echo=lambda *_a: None)


@pytest.fixture
def worker_for():
    """Start a real worker for a given app (for apps built with `live`)."""
    from jobs.worker import Worker

    running = []

    def start(application, threads: int = 4, sweep_interval: float = 0.5):
        worker = Worker(application.extensions["connector"], threads=threads,
                        sweep_interval=sweep_interval)
        worker.start()
        running.append(worker)
        return worker

    yield start
    for worker in running:
        worker.stop()

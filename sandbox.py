"""The sandbox (SPEC §10): the connector, a worker and both vendor simulators in one process,
on loopback, with demo data. `flask connector sandbox` and `python run.py` (no vendor
credentials) start it; tests start it on free ports.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox_settings import DEFAULT_API_TOKEN, LOOPBACK, SandboxPorts, ports_from

log = logging.getLogger("sandbox")
DEFAULT_CALL_SECONDS = 6.0  # a simulated call reaches its final status this long after dialling


@dataclass
class SandboxOptions:
    ports: SandboxPorts = field(default_factory=SandboxPorts)
    call_seconds: float = DEFAULT_CALL_SECONDS
    reset: bool = True  # the simulators start empty, so old rows would point at nothing
    worker_threads: int = 4


class _DeferredApp:
    """Lets the web port be bound (and so known) before the app that needs its URL exists."""

    def __init__(self) -> None:
        self.app = None

    def __call__(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"sandbox starting\n"]
        return self.app(environ, start_response)


def reset_data(rt) -> None:
    """Empty every table (not the schema) and the queue."""
    from store.models import Base

    with rt.db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    rt.queue.flush()


class Sandbox:
    def __init__(self, options: SandboxOptions | None = None, *,
                 environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"):
        self.options = options or SandboxOptions()
        self.environ, self.dotenv_path = environ, dotenv_path
        self.hubspot_sim = self.talkstack_sim = self.rt = self.app = self.worker = None
        self.demo: dict = {}
        self._servers: list = []
        self._web = _DeferredApp()

    @property
    def url(self) -> str:
        return self.rt.settings.public_base_url

    def start(self) -> Sandbox:
        try:
            self._start_simulators()
            web_url = self._serve(self._web, self.options.ports.web)
            self._start_connector(web_url)
        except BaseException:
            self.stop()
            raise
        log.warning("SANDBOX running: HubSpot and Talkstack are simulated (HubSpot %s, "
                    "Talkstack %s); console at %s/", self.hubspot_sim.url, self.talkstack_sim.url,
                    self.url)
        return self

    def _serve(self, wsgi_app, port: int) -> str:
        from simulators.server import serve

        server = serve(wsgi_app, LOOPBACK, port)
        self._servers.append(server)
        return server.url

    def _start_simulators(self) -> None:
        from simulators.hubspot import HubSpotSimulator
        from simulators.talkstack import TalkstackSimulator

        self.hubspot_sim = HubSpotSimulator()
        self.hubspot_sim.url = self._serve(self.hubspot_sim.wsgi_app, self.options.ports.hubspot)
        self.talkstack_sim = TalkstackSimulator(final_after_seconds=self.options.call_seconds)
        self.talkstack_sim.url = self._serve(self.talkstack_sim.wsgi_app,
                                             self.options.ports.talkstack)
        self.talkstack_sim.start()

    def _start_connector(self, web_url: str) -> None:
        from app import create_app
        from cli_setup import run_setup
        from jobs.agents import refresh_agents
        from jobs.health import (
            record_webhook_registration,
            refresh_health,
            store_cached_value,
            talkstack_webhook_url,
        )
        from jobs.worker import Worker
        from runtime import Runtime
        from sandbox_demo import DEMO_CACHE_KEY, seed_demo
        from sandbox_settings import sandbox_settings
        from store.migrate import upgrade

        settings = sandbox_settings(self.environ, web_url=web_url, hubspot_url=self.hubspot_sim.url,
                                    talkstack_url=self.talkstack_sim.url,
                                    agent_id=self.talkstack_sim.agents[0]["id"],
                                    dotenv_path=self.dotenv_path)
        self.rt = Runtime(settings)
        upgrade(self.rt.db)
        if self.options.reset:
            reset_data(self.rt)
        self.app = create_app(settings, runtime=self.rt)
        run_setup(self.rt, echo=lambda line: log.debug("setup: %s", line))
        record_webhook_registration(self.rt, talkstack_webhook_url(settings))
        self.demo = seed_demo(self.hubspot_sim, self.talkstack_sim,
                              region=settings.default_phone_region)
        store_cached_value(self.rt, DEMO_CACHE_KEY, self.demo)
        refresh_agents(self.rt)
        refresh_health(self.rt)
        self.worker = Worker(self.rt, threads=self.options.worker_threads,
                             sweep_interval=settings.sweep_interval_seconds)
        self.worker.start()
        self._web.app = self.app

    def stop(self) -> None:
        """Stop everything that was started, newest first; safe to call twice."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.talkstack_sim is not None:
            self.talkstack_sim.stop()
        while self._servers:
            self._servers.pop().stop()
        if self.rt is not None:
            self.rt.close()


def banner(sandbox: Sandbox) -> str:
    settings, demo = sandbox.rt.settings, sandbox.demo
    token = (f"API_TOKEN: {DEFAULT_API_TOKEN}  (set API_TOKEN to choose your own)"
             if settings.api_token == DEFAULT_API_TOKEN
             else "API_TOKEN: the one in your environment")
    ids = [c["id"] for c in demo.get("contacts", [])]
    rule = "=" * 78
    return "\n".join([
        rule,
        "  SANDBOX: HubSpot and Talkstack are SIMULATED on this machine.",
        "  No real phone call is made and no real CRM is touched.",
        "",
        f"  Console     {sandbox.url}/   (log in with the API token)",
        f"  {token}",
        f"  HubSpot sim {sandbox.hubspot_sim.url}   e.g. {sandbox.hubspot_sim.url}/_sim/calls",
        f"  Talkstack   {sandbox.talkstack_sim.url}",
        f"  Demo        contacts {ids[0]}-{ids[-1]}, list {demo.get('listId')}" if ids else "",
        "",
        f"  Call by API: curl -X POST {sandbox.url}/api/calls "
        '-H "Authorization: Bearer $API_TOKEN" \\',
        "                 -H 'Content-Type: application/json' "
        f"-d '{{\"contactId\": \"{ids[0] if ids else 1001}\"}}'",
        "  Stop with Ctrl-C. Data lives only for this session.",
        rule,
    ])


def run_sandbox(environ: Mapping[str, str] | None = None, *, options: SandboxOptions | None = None,
                dotenv_path: str | None = ".env") -> int:
    """Start, print the banner, serve until SIGINT/SIGTERM, stop. Returns an exit status."""
    from config import ConfigError, read_environment

    if options is None:
        try:
            options = SandboxOptions(ports=ports_from(read_environment(environ, dotenv_path)))
        except ValueError as exc:
            print(f"sandbox: {exc}", file=sys.stderr)
            return 2
    for noisy in ("werkzeug", "huey"):  # one line per request / task would bury the banner
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sandbox = Sandbox(options, environ=environ, dotenv_path=dotenv_path)
    try:
        sandbox.start()
    except (OSError, ConfigError) as exc:
        print(f"sandbox: cannot start: {exc}", file=sys.stderr)
        return 2
    print(banner(sandbox), flush=True)
    _wait_for_signal()
    log.warning("SANDBOX stopping")
    sandbox.stop()
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())
    while not stop.wait(1.0):
        pass

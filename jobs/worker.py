"""The worker process: huey consumer threads plus the sweeper."""

from __future__ import annotations

import logging

from jobs.sweeper import Sweeper, sweep

log = logging.getLogger(__name__)


class Worker:
    """Start/stop in-process (tests, sandbox) or `run()` in the foreground (CLI)."""

    def __init__(self, rt, *, threads: int | None = None, sweep_interval: float | None = None):
        self.rt = rt
        threads = threads or rt.settings.worker_threads
        self.consumer = rt.queue.huey.create_consumer(
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=0.5,
            check_worker_health=True,
        )
        self.sweeper = Sweeper(rt, sweep_interval or rt.settings.sweep_interval_seconds)

    def start(self) -> None:
        sweep(self.rt)  # pick up whatever a previous worker left behind
        self.consumer.start()
        self.sweeper.start()

    def stop(self) -> None:
        self.sweeper.stop()
        self.consumer.stop(graceful=True)

    def run(self) -> None:
        """Foreground: huey's run() handles SIGINT/SIGTERM; leases make interrupted work safe."""
        port = self.rt.settings.worker_metrics_port
        if port:
            # Counters of what this worker did (calls started, vendor requests, rate-limit
            # waits) live in this process; Prometheus scrapes them here.
            from prometheus_client import start_http_server

            from metrics import REGISTRY

            start_http_server(port, registry=REGISTRY)
            log.info("worker metrics on :%s/metrics", port)
        sweep(self.rt)
        self.sweeper.start()
        try:
            self.consumer.run()
        finally:
            self.sweeper.stop()

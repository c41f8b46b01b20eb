"""Run the Procfile's processes for real: gunicorn `web`, `flask connector worker`, and the
`release:` step, each a child process with its own environment and log file.

Shared by the fault suite, the scale-out suite and the benchmarks (bench/common.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 45.0
STOP_TIMEOUT_SECONDS = 30.0
# Inherited variables that would change what the child processes do; the test sets its own.
_SCRUBBED_PREFIXES = ("HUBSPOT_", "TALKSTACK_", "TEST_", "CALL_", "BATCH_")
_SCRUBBED_NAMES = {"DATABASE_URL", "REDIS_URL", "QUEUE_URL", "PUBLIC_BASE_URL", "API_TOKEN",
                   "CONNECTOR_CONFIG", "INSTANCE_PATH", "PORT", "WEB_CONCURRENCY", "WEB_THREADS",
                   "FLASK_APP", "SANDBOX"}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the test process dies, so a test run
    killed by a timeout leaves no gunicorn or worker behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def child_environment(settings: dict) -> dict:
    """os.environ without connector settings, plus `settings` (all values as strings)."""
    inherited = {k: v for k, v in os.environ.items()
                 if k not in _SCRUBBED_NAMES and not k.startswith(_SCRUBBED_PREFIXES)}
    return {**inherited, "PYTHONUNBUFFERED": "1", **{k: str(v) for k, v in settings.items()}}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, leases stay held."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)

    def terminate(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM (what a platform sends on deploy), then SIGKILL if it will not stop."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.returncode

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_lines()[-lines:])

    def log_problems(self, limit: int = 60) -> str:
        """WARNING/ERROR lines and tracebacks: what to read first when a test failed."""
        marked = [line for line in self.log_lines()
                  if any(word in line for word in ("WARNING", "ERROR", "Traceback", "Error:"))]
        return "\n".join(marked[:limit])


@dataclass
class Web:
    process: Process
    url: str
    port: int


@dataclass
class Processes:
    """Starts children with `settings` in their environment; `stop_all()` ends every one."""

    settings: dict
    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str], extra: dict) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - the child owns it until it exits
        popen = subprocess.Popen(argv, cwd=ROOT, env=child_environment({**self.settings, **extra}),
                                 stdout=log_file, stderr=subprocess.STDOUT,
                                 start_new_session=True, preexec_fn=_die_with_parent)
        log_file.close()
        process = Process(name, popen, log_path)
        self.started.append(process)
        return process

    def web(self, port: int | None = None, *, concurrency: int = 2, threads: int = 4,
            app: str = "app:app", wait: bool = True, **extra) -> Web:
        """The Procfile's `web:` line: gunicorn -c gunicorn.conf.py app:app."""
        port = port or free_port()
        env = {"HOST": "127.0.0.1", "PORT": port, "WEB_CONCURRENCY": concurrency,
               "WEB_THREADS": threads, "ACCESS_LOG": "", **extra}
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app]
        web = Web(self._spawn("web", argv, env), f"http://127.0.0.1:{port}", port)
        if wait:
            wait_ready(web)
        return web

    def worker(self, **extra) -> Process:
        """The Procfile's `worker:` line: flask --app app connector worker."""
        return self._spawn("worker", [sys.executable, "-m", "flask", "--app", "app", "connector",
                                      "worker"], extra)

    def cli(self, *args: str, timeout: float = 120, **extra) -> subprocess.CompletedProcess:
        """`flask --app app connector ARGS` to completion (e.g. the `release:` migrate)."""
        return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "connector", *args],
                              cwd=ROOT, env=child_environment({**self.settings, **extra}),
                              capture_output=True, text=True, timeout=timeout)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.alive():
                process.terminate(timeout=10)

    def logs(self, lines: int = 15) -> str:
        return "\n".join(f"--- {p.name} pid {p.pid} ({p.log_path}): problems\n"
                         f"{p.log_problems()}\n--- last lines\n{p.log_tail(lines)}"
                         for p in self.started)


def wait_ready(web: Web, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Poll /readyz until it answers 200; fail early (with the log) if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not web.process.alive():
            raise RuntimeError(f"web exited with {web.process.popen.returncode}:\n"
                               f"{web.process.log_tail()}")
        try:
            if requests.get(f"{web.url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"web not ready after {timeout}s:\n{web.process.log_tail()}")

"""run.py: sandbox without credentials, migrations + honcho with them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import run
from tests.conftest import wait_for

ROOT = Path(run.__file__).resolve().parent
VENDOR_NAMES = ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_CLIENT_SECRET", "TALKSTACK_API_KEY",
                "TALKSTACK_EMAIL", "TALKSTACK_PASSWORD")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without any connector setting, plus `values`."""
    from config import Settings

    connector_names = {f.upper() for f in Settings.__dataclass_fields__} | {"PORT"}
    kept = {k: v for k, v in os.environ.items() if k not in connector_names}
    return {**kept, **values}


@pytest.mark.parametrize("values, mode", [
    ({}, "sandbox"),
    ({"API_TOKEN": "x", "DATABASE_URL": "sqlite:///x.db", "TALKSTACK_AGENT_ID": "a"}, "sandbox"),
    ({"HUBSPOT_ACCESS_TOKEN": ""}, "sandbox"),
    *[({name: "set"}, "procfile") for name in VENDOR_NAMES],
])
def test_choose_mode(values, mode):
    assert run.choose_mode(values) == mode


def test_honcho_runs_web_and_worker_with_this_interpreter():
    command = run.honcho_command()
    assert command[:3] == [sys.executable, "-m", "honcho"]
    assert command[-3:] == ["start", "web", "worker"]
    env = run.child_environment({"PATH": "/usr/bin"})
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]


def start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run.py")], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # our child's own process group only
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    return process.stdout.read()


def ready(url: str) -> bool:
    try:
        return all(requests.get(url + path, timeout=3).status_code == 200
                   for path in ("/healthz", "/readyz"))
    except requests.RequestException:  # not listening yet, or still starting
        return False


def test_without_credentials_run_py_starts_the_sandbox(tmp_path):
    port = free_port()
    env = clean_environment(PORT=str(port), SANDBOX_HUBSPOT_PORT=str(free_port()),
                            SANDBOX_TALKSTACK_PORT=str(free_port()),
                            INSTANCE_PATH=str(tmp_path / "instance"))
    process = start(env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: ready(url) or process.poll() is not None, 45, interval=0.2,
                 message="sandbox ready")
        assert process.poll() is None, "run.py exited early"
        login = requests.get(url + "/login", timeout=2).text
        assert "SANDBOX" in login
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "SANDBOX: HubSpot and Talkstack are SIMULATED" in output
    assert "SANDBOX running" in output  # the log line


def test_with_credentials_a_missing_setting_stops_with_one_line(tmp_path):
    env = clean_environment(HUBSPOT_ACCESS_TOKEN="tok", INSTANCE_PATH=str(tmp_path))
    process = start(env)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 2
    assert output.strip().splitlines() == [
        "configuration error: missing required environment variable HUBSPOT_CLIENT_SECRET"]


def test_with_credentials_run_py_migrates_and_starts_the_procfile(tmp_path, env):
    port = free_port()
    values = {**env, "PORT": str(port), "WEB_CONCURRENCY": "1", "ACCESS_LOG": "",
              "INSTANCE_PATH": str(tmp_path / "instance")}
    process = start(clean_environment(**values))
    started = time.monotonic()
    try:
        wait_for(lambda: ready(f"http://127.0.0.1:{port}") or process.poll() is not None, 45,
                 interval=0.2, message="gunicorn ready")
        assert process.poll() is None, "run.py exited early"
    finally:
        output = stop(process)
    if "DATABASE_URL" not in env:  # the embedded default: SQLite under INSTANCE_PATH
        assert (tmp_path / "instance" / "connector.db").exists()
    assert "web.1" in output and "worker.1" in output, output[-2000:]
    assert time.monotonic() - started < 50

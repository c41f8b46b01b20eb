"""Fixtures of the fault suite: a real deployment (gunicorn web, worker processes) per test,
against the simulators served by this process on loopback (tests/conftest.py)."""

from __future__ import annotations

import logging

import pytest

from tests.faults.harness import Stack


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def quiet_simulators():
    """The simulators' werkzeug servers log a line per request: thousands here."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture
def stack(request, env, hubspot_sim, talkstack_sim, tmp_path):
    """Build with `stack(**env_overrides)`; every process it started is stopped afterwards,
    and their logs are printed when the test failed."""
    built: list[Stack] = []

    def build(**overrides) -> Stack:
        deployment = Stack(env, hubspot_sim, talkstack_sim, tmp_path / f"stack{len(built)}",
                           **overrides)
        built.append(deployment)
        return deployment

    yield build
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for deployment in built:
        if failed:
            print(deployment.processes.logs())
        deployment.stop()

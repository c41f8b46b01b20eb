"""The scale-out suite reuses the fault suite's fixtures: a deployment of real processes
(gunicorn web, `connector worker`) against the simulators served by the test process."""

from tests.faults.conftest import pytest_runtest_makereport, quiet_simulators, stack  # noqa: F401

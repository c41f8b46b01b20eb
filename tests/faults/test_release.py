"""The Procfile's `release:` step migrates an empty database (PostgreSQL in scale-out)."""

from __future__ import annotations

import pytest

from tests.faults.harness import Stack

pytestmark = pytest.mark.slow


def test_release_step_migrates_an_empty_database(env, hubspot_sim, talkstack_sim, tmp_path):
    deployment = Stack(env, hubspot_sim, talkstack_sim, tmp_path)  # `env` emptied the database
    try:
        released = deployment.processes.cli("migrate")
        assert released.returncode == 0, released.stderr[-2000:]
        assert "database at revision" in released.stdout
    finally:
        deployment.stop()

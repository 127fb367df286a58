"""The external-services stage (tests/external/run.sh): the values it hands in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "devstack"))


def pytest_configure(config):
    config.addinivalue_line("markers", "after_down: runs after ./dev down and ./dev clean (run.sh's second pass)")


@pytest.fixture(scope="session")
def external() -> dict[str, str]:
    """What run.sh started outside the stack; a test run without it fails saying how to run it."""
    keys = ("TODO_KAFKA_BROKERS", "TODO_DATABASE_URL", "TODO_DAPR_BIN", "TODO_EXTERNAL_TEST_KAFKA_PID",
            "TODO_EXTERNAL_TEST_PG_PID", "TODO_EXTERNAL_TEST_PGDIR")
    missing = [k for k in keys if not os.environ.get(k)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: run tests/external/run.sh, which starts the external services",
                    pytrace=False)
    return {k: os.environ[k] for k in keys}

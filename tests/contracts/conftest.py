"""Shared fixtures of the contract tests: the reference CRDs and Spin's manifest schema."""

import json
import sys
from pathlib import Path

import pytest

# The checks module sits beside this file; keep it importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dapr_checks  # noqa: E402


@pytest.fixture(scope="session")
def crds() -> dapr_checks.CrdRegistry:
    """Dapr's and SpinKube's CRDs from <repo>/../shared/reference/crds (fails if missing)."""
    try:
        return dapr_checks.load_crds()
    except FileNotFoundError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def spin_schema() -> dict:
    """Spin 4.0.2's JSON Schema of spin.toml (fails if missing)."""
    path = dapr_checks.SPIN_SCHEMA
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: shared/ must sit beside the repository "
            "(<repo>/../shared/reference) or TODO_SHARED_DIR must point at it",
            pytrace=False,
        )
    return json.loads(path.read_text(encoding="utf-8"))

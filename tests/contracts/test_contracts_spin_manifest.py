"""spin.toml against Spin 4.0.2's JSON Schema of the manifest (no Spin CLI on these machines)."""

import tomllib

import pytest

import dapr_checks
from dapr_checks import REPO

SPIN_TOML = REPO / "spin.toml"


def test_spin_manifest_matches_spin_schema(spin_schema):
    if not SPIN_TOML.is_file():
        pytest.skip(f"{SPIN_TOML} does not exist yet")
    with SPIN_TOML.open("rb") as fh:
        manifest = tomllib.load(fh)
    violations = dapr_checks.spin_manifest_errors(manifest, spin_schema)
    if violations:
        pytest.fail("\n".join(violations), pytrace=False)


def test_spin_schema_accepts_a_manifest_of_the_projects_shape(spin_schema):
    """Control for the check above: a well-formed manifest passes, so a failure means something."""
    good = dapr_checks.REPO / "tests" / "contracts" / "fixtures" / "good" / "spin-minimal.toml"
    with good.open("rb") as fh:
        assert dapr_checks.spin_manifest_errors(tomllib.load(fh), spin_schema) == []

"""spin.toml against Spin 4.0.2's JSON Schema of the manifest, and the rules Spin applies when it serves it."""

import re
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


def outbound_template_errors(manifest: dict) -> list[str]:
    """Spin resolves `allowed_outbound_hosts` templates with APPLICATION variables only
    (spin v4.0.2 crates/factor-outbound-networking/src/lib.rs); a component variable there loads
    but makes Spin deny every outbound request of that component."""
    app_vars = set(manifest.get("variables", {}))
    errors = []
    for cid, comp in manifest.get("component", {}).items():
        for entry in comp.get("allowed_outbound_hosts", []):
            for name in re.findall(r"\{\{\s*([^}]*?)\s*\}\}", entry):
                if name not in app_vars:
                    errors.append(f"component {cid}: allowed_outbound_hosts {entry!r} names {name!r}, not an application variable")
    return errors


def test_outbound_hosts_name_application_variables():
    with SPIN_TOML.open("rb") as fh:
        manifest = tomllib.load(fh)
    assert manifest.get("component"), "spin.toml has no components"
    errors = outbound_template_errors(manifest)
    assert not errors, "\n".join(errors)


def test_outbound_template_check_catches_a_component_variable():
    """Control: the manifest the Spin CLI denied every request for (issue 12) is caught."""
    bad = {
        "variables": {"task_api_dapr_url": {"default": "http://localhost:3500"}},
        "component": {"task-api": {"allowed_outbound_hosts": ["{{ dapr_url }}"], "variables": {"dapr_url": "{{ task_api_dapr_url }}"}}},
    }
    assert outbound_template_errors(bad) == [
        "component task-api: allowed_outbound_hosts '{{ dapr_url }}' names 'dapr_url', not an application variable"
    ]

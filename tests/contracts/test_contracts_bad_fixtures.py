"""Each rule catches the bad case it exists for: the fixtures in fixtures/bad/ must be rejected.

A fixture names the check that must reject it, and a piece of the expected message, in header
lines `# expect: <check>: <substring>`. Every check has at least one bad fixture.
"""

import tomllib
from pathlib import Path

import pytest

import dapr_checks

BAD = Path(__file__).parent / "fixtures" / "bad"
FILE_FIXTURES = sorted(p for p in BAD.iterdir() if p.is_file())
KUSTOMIZE_FIXTURES = sorted(p for p in BAD.iterdir() if p.is_dir())


def expectations(path: Path) -> list[tuple[str, str]]:
    """The (check name, expected substring) pairs of a fixture's `# expect:` header lines."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            check, _, needle = line.removeprefix("# expect:").strip().partition(":")
            found.append((check.strip(), needle.strip()))
    assert found, f"{path.name} has no '# expect: <check>: <text>' line"
    return found


def run_check(check: str, path: Path, crds, spin_schema) -> list[str]:
    """Run one named check over a fixture file, the same way the real resources are checked."""
    if check == "spin_manifest_errors":
        with path.open("rb") as fh:
            return dapr_checks.spin_manifest_errors(tomllib.load(fh), spin_schema)
    if check == "kustomization_errors":
        return dapr_checks.kustomization_errors(path)
    resources = dapr_checks.load_resources(path)
    if check == "profile_errors":
        profile = dapr_checks.profile_of(path)
        assert profile, f"{path.name}: a profile fixture's name starts with its profile"
        return dapr_checks.profile_errors(profile, resources)
    if check == "crd_errors":
        return [v for r in resources for v in dapr_checks.crd_errors(r, crds)]
    func = getattr(dapr_checks, check)
    assert func in dapr_checks.RESOURCE_CHECKS, f"{check} is not a resource check"
    return [v for r in resources for v in func(r)]


@pytest.mark.parametrize("path", FILE_FIXTURES, ids=lambda p: p.name)
def test_bad_fixture_is_rejected(path, crds, spin_schema):
    for check, needle in expectations(path):
        violations = run_check(check, path, crds, spin_schema)
        assert violations, f"{check} accepted {path.name}"
        assert any(
            needle in v for v in violations
        ), f"{check} rejected {path.name}, but not with {needle!r}: {violations}"


@pytest.mark.parametrize("path", KUSTOMIZE_FIXTURES, ids=lambda p: p.name)
def test_bad_kustomization_is_rejected(path):
    kustomization = path / "kustomization.yaml"
    for check, needle in expectations(kustomization):
        violations = run_check(check, kustomization, None, None)
        assert any(needle in v for v in violations), violations


def test_every_check_has_a_bad_fixture():
    covered = {check for p in FILE_FIXTURES for check, _ in expectations(p)}
    covered |= {
        check for d in KUSTOMIZE_FIXTURES for check, _ in expectations(d / "kustomization.yaml")
    }
    wanted = {c.__name__ for c in dapr_checks.RESOURCE_CHECKS} | {
        "crd_errors",
        "profile_errors",
        "kustomization_errors",
        "spin_manifest_errors",
    }
    assert wanted <= covered, f"checks without a bad fixture: {sorted(wanted - covered)}"

"""The Dapr resources the project ships (contracts/, deploy/) meet the CRDs and the rules."""

import shutil
import subprocess

import pytest
import yaml

import dapr_checks
from dapr_checks import REPO, Resource

COMPONENTS_DIR = REPO / "contracts" / "dapr-components"
FILES = dapr_checks.resource_files()


def _load_all() -> list[Resource]:
    resources = []
    for path in FILES:
        try:
            resources.extend(dapr_checks.load_resources(path))
        except yaml.YAMLError:
            pass  # reported by test_yaml_parses
    return resources


RESOURCES = _load_all()


def _fail_with(violations: list[str]) -> None:
    if violations:
        pytest.fail("\n".join(violations), pytrace=False)


def test_resources_were_found():
    """Guard against a vacuous pass: every profile ships its five or six resource files."""
    for profile in dapr_checks.PROFILES:
        for name in (
            "pubsub.yaml",
            "statestore.yaml",
            "tododb.yaml",
            "subscriptions.yaml",
            "resiliency.yaml",
        ):
            assert (COMPONENTS_DIR / profile / name) in FILES, f"{profile}/{name} not found"
    assert (COMPONENTS_DIR / "selfhosted" / "secretstore.yaml") in FILES
    assert len(RESOURCES) >= 3 * 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses(path):
    try:
        dapr_checks.load_resources(path)
    except yaml.YAMLError as err:
        pytest.fail(f"{path.relative_to(REPO)}: invalid YAML: {err}", pytrace=False)


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.where)
def test_resource_matches_its_crd(res, crds):
    _fail_with(dapr_checks.crd_errors(res, crds))


@pytest.mark.parametrize("check", dapr_checks.RESOURCE_CHECKS, ids=lambda c: c.__name__)
def test_rule(check):
    _fail_with([v for res in RESOURCES for v in check(res)])


@pytest.mark.parametrize("profile", dapr_checks.PROFILES)
def test_profile_is_consistent(profile):
    _fail_with(dapr_checks.profile_errors(profile, [r for r in RESOURCES if r.profile == profile]))


@pytest.mark.parametrize("profile", dapr_checks.K8S_PROFILES)
def test_kustomization_lists_the_profile(profile):
    _fail_with(dapr_checks.kustomization_errors(COMPONENTS_DIR / profile / "kustomization.yaml"))


@pytest.mark.parametrize("profile", dapr_checks.K8S_PROFILES)
def test_kustomize_render_validates(profile, crds, tmp_path):
    """What `kubectl apply -k` would send: rendered offline, every document valid, namespaced."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the rendered overlay is not checked")
    out = subprocess.run(
        [kubectl, "kustomize", str(COMPONENTS_DIR / profile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rendered = tmp_path / f"{profile}.yaml"
    rendered.write_text(out.stdout, encoding="utf-8")
    docs = dapr_checks.load_resources(rendered)
    assert len(docs) >= 8
    violations = []
    for res in docs:
        res.profile = profile
        violations += dapr_checks.crd_errors(res, crds)
        violations += dapr_checks.namespace_errors(res)
        if res.doc["metadata"].get("namespace") != "todo":
            violations.append(f"{res.where}: rendered namespace is not 'todo'")
    _fail_with(violations)


def test_topics_match_the_event_schemas():
    """Every schema under contracts/events names a known topic, and every topic has a schema."""
    events = REPO / "contracts" / "events"
    schemas = {p.name.removesuffix(".schema.json") for p in events.glob("*.schema.json")}
    assert schemas, f"no *.schema.json under {events}"
    assert (
        schemas <= dapr_checks.TOPICS
    ), f"unknown topics in schemas: {schemas - dapr_checks.TOPICS}"
    assert dapr_checks.TOPICS - {"e2e-probe"} <= schemas


def test_crd_strictness_catches_a_misspelt_field(crds):
    """The converted CRD schema rejects unknown fields, as the API server does (strict)."""
    doc = {
        "apiVersion": "dapr.io/v2alpha1",
        "kind": "Subscription",
        "metadata": {"name": "x"},
        "spec": {
            "pubsubname": "pubsub",
            "topic": "reminders",
            "routes": {"default": "/x"},
            "deadLetterTopics": "reminders.dlq",
        },
    }
    errors = dapr_checks.crd_errors(Resource(REPO / "x.yaml", 0, doc), crds)
    assert any("deadLetterTopics" in e for e in errors), errors
    doc["spec"]["deadLetterTopic"] = doc["spec"].pop("deadLetterTopics")
    assert dapr_checks.crd_errors(Resource(REPO / "x.yaml", 0, doc), crds) == []

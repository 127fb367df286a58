"""The overlays as `kubectl kustomize` renders them, offline: valid against the CRDs and the
contract tests' rules, and right in what they say (one SpinApp per service, Dapr annotations that
Dapr 1.18 knows, variables and Secrets that exist, autoscalers on the right Deployments, the
Ingress, Pushpin, the migrations). No control plane needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

import deploy_checks as dc

BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"


@pytest.fixture(scope="module", params=dc.PROFILES)
def rendered(request, kubectl):
    return request.param, dc.render_profile(request.param)


@pytest.fixture(scope="session")
def dapr_annotations():
    try:
        return dc.dapr_annotation_names()
    except (FileNotFoundError, RuntimeError) as err:
        pytest.fail(str(err), pytrace=False)


def _fail_with(errors):
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.mark.parametrize("profile", dc.PROFILES)
def test_renders_offline_and_alike_with_the_system_kubectl(profile, kubectl):
    """Rendered without the network (a proxy that refuses everything), with the project's kubectl
    1.37.2 (kustomize v5.8) and, if there is one on PATH, the system's (the contract tests use it):
    the same output."""
    env = dict(os.environ)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[var] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    ours = dc.render(dc.DEPLOY / "overlays" / profile, kubectl, env=env)
    assert len(ours) >= 30
    system = shutil.which("kubectl")
    if system and Path(system).resolve() != kubectl.resolve():
        assert dc.render(dc.DEPLOY / "overlays" / profile, Path(system), env=env) == ours


def test_the_dapr_resources_are_referenced_not_copied(rendered):
    """Every resource of contracts/dapr-components/<profile> is in the overlay, and deploy/ holds
    no Dapr Component, Subscription or Resiliency of its own."""
    profile, docs = rendered
    contracts = dc.render(dc.REPO / "contracts" / "dapr-components" / profile)
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    got = {key(d): d for d in docs}
    for d in contracts:
        assert got.get(key(d)) == d, f"{key(d)} of contracts/ differs in the overlay"
    own = [
        f"{p.relative_to(dc.REPO)}: {d['kind']}/{d['metadata']['name']}"
        for p in sorted(dc.DEPLOY.rglob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))
        if d and str(d.get("apiVersion", "")).startswith("dapr.io/")
        and d.get("kind") in ("Component", "Subscription", "Resiliency")
    ]
    assert own == [], f"Dapr resources copied into deploy/: {own}"


def test_rendered_resources_pass_the_contract_checks(rendered, crds):
    profile, docs = rendered
    _fail_with(dc.contract_errors(docs, profile, crds))


def test_one_spinapp_per_service(rendered):
    _fail_with(dc.spinapp_errors(rendered[1]))


def test_dapr_annotations(rendered, dapr_annotations):
    assert {"dapr.io/api-token-secret", "dapr.io/app-token-secret", "dapr.io/config"} <= dapr_annotations
    _fail_with(dc.dapr_annotation_errors(rendered[1], dapr_annotations))


def test_spin_variables_come_from_the_runtime_config(rendered):
    _fail_with(dc.variable_errors(rendered[1], dc.spin_variables()))


def test_every_secret_read_is_created_by_the_secrets_script(rendered):
    profile, docs = rendered
    _fail_with(dc.secret_errors(docs, dc.secrets_script_list(profile)))


def test_autoscaling(rendered):
    profile, docs = rendered
    _fail_with(dc.autoscaling_errors(docs, profile))


def test_ingress(rendered):
    _fail_with(dc.ingress_errors(rendered[1]))


def test_pushpin(rendered):
    _fail_with(dc.pushpin_errors(rendered[1]))


def test_migrations(rendered):
    profile, docs = rendered
    _fail_with(dc.migration_errors(docs, profile))


def test_no_secret_values_anywhere_in_deploy():
    """No Secret object, no generator of one, and nothing that looks like a key in deploy/."""
    for p in sorted(dc.DEPLOY.rglob("*")):
        if not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")
        assert "secretGenerator" not in text, p
        if p.suffix in (".yaml", ".yml"):
            assert "kind: Secret\n" not in text, p


def test_the_checks_catch_a_missing_secret(kubectl):
    """The API server accepts a reference to a Secret nobody creates (tests/deploy/
    test_deploy_cluster.py shows it); this check is what refuses it."""
    docs = dc.render(BROKEN / "missing-secret", kubectl)
    errors = dc.secret_errors(docs, dc.secrets_script_list("local"))
    assert any("'better-auth'" in e and "SpinApp/task-api" in e for e in errors), errors
    assert dc.secret_errors(dc.render_profile("local"), dc.secrets_script_list("local")) == []


def test_the_checks_catch_wrong_annotations_and_variables(dapr_annotations):
    """The checks are not vacuous: a misspelt Dapr annotation, a token Secret that the app's
    variable does not read, a variable missing from the runtime configuration, one set as an
    environment variable, a SpinApp without the runtime configuration and a wrong topic are each
    reported."""
    docs = dc.render_profile("local")
    app = dc.find(docs, "SpinApp", "audit")
    ann = app["spec"]["podAnnotations"]
    ann["dapr.io/app-token"] = ann.pop("dapr.io/app-token-secret")
    errors = dc.dapr_annotation_errors(docs, dapr_annotations)
    assert any("dapr.io/app-token is not an annotation" in e for e in errors), errors
    assert any("no dapr.io/app-token-secret" in e for e in errors), errors
    values = {k: v for k, v in dc.runtime_config_values().items() if k != "jwt_secret"}
    assert any("jwt_secret" in e for e in dc.variable_errors(docs, dc.spin_variables(), values))
    app["spec"]["variables"] = [{"name": "jwt_secret", "value": "x"}]
    assert any("SpinApp/audit: spin.toml's jwt_secret set in spec.variables" in e
               for e in dc.variable_errors(docs, dc.spin_variables()))
    del app["spec"]["runtimeConfig"]
    assert any("SpinApp/audit: spec.runtimeConfig.loadFromSecret is None" in e
               for e in dc.variable_errors(docs, dc.spin_variables()))
    dc.find(docs, "ScaledObject", "audit")["spec"]["triggers"][0]["metadata"]["topic"] = "reminders"
    assert any("ScaledObject/audit: topic" in e for e in dc.autoscaling_errors(docs, "local"))

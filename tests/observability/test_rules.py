"""The rules and the scrape configuration, without a running stack: promtool checks and unit-tests
the recording and alerting rules (a case that fires and one that does not for every alert), the
cluster's PrometheusRule is the same rules, the dev stack's Prometheus scrapes every sidecar of
apps.tsv, and the PodMonitors select what Dapr's injector and spin-operator make."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from devstack_apps import apps  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OBS = REPO / "observability"
RULES = OBS / "rules"
TESTS = sorted((RULES / "tests").glob("*.yml"))
PROM_SH = REPO / "tools" / "prometheus" / "prometheus.sh"
PROMETHEUSRULE = REPO / "deploy" / "base" / "observability" / "prometheusrule.yaml"
PODMONITORS = REPO / "deploy" / "base" / "observability" / "podmonitors.yaml"
SHARED = Path(os.environ.get("TODO_SHARED_DIR", REPO.parent / "shared"))

# The seed's metrics ("Monitoring and Observability") with their labels.
SEED_METRICS = {
    "events_published_total": {"topic", "event_type"},
    "event_publish_duration_seconds": {"topic"},
    "event_publish_errors_total": {"topic", "error_type"},
    "events_consumed_total": {"topic", "consumer", "event_type"},
    "event_processing_duration_seconds": {"consumer", "event_type"},
    "event_processing_errors_total": {"consumer", "event_type"},
    "schema_validation_errors_total": {"topic", "schema_version"},
    "schema_version_mismatches_total": {"topic", "expected", "actual"},
}
SEED_ALERTS = {
    "EventPublishFailureRateHigh",
    "EventProcessingLagHigh",
    "SchemaValidationFailures",
    "DaprComponentUnhealthy",
    "EventProcessingLatencyHigh",
}


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kw)


def rule_groups() -> list[dict]:
    return [g for f in ("recording.yml", "alerts.yml") for g in yaml.safe_load((RULES / f).read_text())["groups"]]


def alert_names() -> set[str]:
    return {r["alert"] for g in rule_groups() for r in g["rules"] if "alert" in r}


def test_promtool_checks_the_rules(promtool):
    out = run(promtool, "check", "rules", RULES / "recording.yml", RULES / "alerts.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == 2, out.stdout


def test_promtool_unit_tests_pass(promtool):
    assert TESTS, f"no rule tests in {RULES / 'tests'}"
    out = run(promtool, "test", "rules", *TESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAILED" not in out.stdout, out.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    fires, quiet = set(), set()
    for f in TESTS:
        for case in yaml.safe_load(f.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = alert_names()
    assert SEED_ALERTS <= names, f"the seed's alerts {sorted(SEED_ALERTS - names)} have no rule"
    assert names <= fires, f"no firing case for {sorted(names - fires)}"
    assert names <= quiet, f"no quiet case for {sorted(names - quiet)}"


def test_the_immediate_alerts_wait_for_nothing_and_the_others_do():
    """The seed marks schema validation failures and unhealthy components "immediate"."""
    rules = [r for g in rule_groups() for r in g["rules"] if "alert" in r]
    for r in rules:
        if r["alert"] in ("SchemaValidationFailures", "DaprComponentUnhealthy"):
            assert r.get("for", "0m") in ("0m", "0s"), r
        elif r["alert"] in SEED_ALERTS:
            assert r.get("for") not in (None, "0m", "0s"), f"{r['alert']} would fire on one bad evaluation"
        assert r["labels"]["severity"] in ("critical", "warning"), r


def test_the_seeds_metric_names_are_exposed_or_recorded():
    """Every seed metric is either rendered by the metrics component (todo-metrics' names) or
    recorded from Dapr's own metrics; the rendered ones' labels are checked against a real
    PostgreSQL in crates/tasks/tests/sql_pg.rs."""
    lib = (REPO / "crates" / "metrics" / "src" / "lib.rs").read_text()
    rendered = set(re.findall(r'pub const \w+: &str = "([a-z_]+)";', lib))
    recorded = {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}
    for name in SEED_METRICS:
        histogram = {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        assert name in rendered or histogram <= recorded, f"{name} is neither rendered nor recorded"
    assert "event_consumer_lag_seconds" in rendered, "the lag alert's input"
    expose = (REPO / "crates" / "metrics" / "src" / "expose.rs").read_text()
    for name, labels in SEED_METRICS.items():
        if name in rendered:
            for label in labels:
                assert f'"{label}"' in expose, f"{name}: label {label} is never rendered"


def test_the_clusters_prometheusrule_is_generated_from_the_same_rules():
    out = run(PROM_SH, "prometheusrule")
    assert out.returncode == 0, out.stderr
    assert out.stdout == PROMETHEUSRULE.read_text(), (
        f"{PROMETHEUSRULE.relative_to(REPO)} is stale: tools/prometheus/prometheus.sh prometheusrule > {PROMETHEUSRULE.relative_to(REPO)}"
    )
    doc = yaml.safe_load(PROMETHEUSRULE.read_text())
    assert doc["kind"] == "PrometheusRule" and doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["spec"]["groups"] == rule_groups()
    kustomization = yaml.safe_load((REPO / "deploy" / "base" / "kustomization.yaml").read_text())
    for f in ("observability/prometheusrule.yaml", "observability/podmonitors.yaml"):
        assert f in kustomization["resources"], f


def test_the_dev_prometheus_scrapes_every_sidecar_the_scheduler_and_the_metrics(promtool, tmp_path):
    out = run(PROM_SH, "config", tmp_path, "3000", "3552")
    assert out.returncode == 0, out.stderr
    cfg = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"dapr-sidecars", "dapr-scheduler", "todo-metrics"}
    sidecars = {(sc["labels"]["app_id"], t) for sc in jobs["dapr-sidecars"]["static_configs"] for t in sc["targets"]}
    assert sidecars == {(a, f"127.0.0.1:{m}") for a, m in apps()}
    assert jobs["dapr-scheduler"]["static_configs"][0]["targets"] == ["127.0.0.1:3552"]
    assert jobs["todo-metrics"]["static_configs"][0]["targets"] == ["127.0.0.1:3000"]
    assert jobs["todo-metrics"]["metrics_path"] == "/metrics"
    assert [Path(f) for f in cfg["rule_files"]] == [RULES / "recording.yml", RULES / "alerts.yml"]
    assert "metrics" in dict(apps()), "the metrics component's own sidecar (app-id metrics)"


def test_the_rules_only_name_jobs_that_are_scraped():
    jobs = set(re.findall(r"job_name: (\S+)", (OBS / "prometheus.yml.in").read_text()))
    named = set()
    for g in rule_groups():
        for r in g["rules"]:
            named |= set(re.findall(r'job="([^"]+)"', str(r["expr"])))
    assert named and named <= jobs, (named, jobs)
    monitors = list(yaml.safe_load_all(PODMONITORS.read_text()))
    relabelled = {
        rl["replacement"]
        for m in monitors
        for ep in m["spec"]["podMetricsEndpoints"]
        for rl in ep.get("relabelings", [])
        if rl.get("targetLabel") == "job"
    }
    assert named <= relabelled, f"the cluster's PodMonitors set job to {relabelled}, the rules want {named}"


def _dapr_source(rel: str) -> str:
    gomod = (REPO / "tools" / "dapr" / "go.mod").read_text()
    version = re.search(r"^\s*github\.com/dapr/dapr\s+(v\S+)", gomod, re.MULTILINE).group(1)
    modcache = os.environ.get("GOMODCACHE") or run("go", "env", "GOMODCACHE").stdout.strip()
    src = Path(modcache) / f"github.com/dapr/dapr@{version}" / rel
    if not src.is_file():
        pytest.fail(f"{src} is missing: the Dapr module is fetched by tools/dapr/build.sh (setup.sh)", pytrace=False)
    return src.read_text()


def test_the_podmonitors_select_what_daprs_injector_and_spin_operator_make():
    consts = _dapr_source("pkg/injector/consts/consts.go")
    const = lambda name: re.search(rf'{name}\s*=\s*"([^"]+)"', consts).group(1)  # noqa: E731
    monitors = {m["metadata"]["name"]: m for m in yaml.safe_load_all(PODMONITORS.read_text())}
    sidecars = monitors["dapr-sidecars"]["spec"]
    assert sidecars["selector"]["matchLabels"] == {const("SidecarInjectedLabel"): "true"}
    [ep] = sidecars["podMetricsEndpoints"]
    assert ep["port"] == const("SidecarMetricsPortName")
    app_label = "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9]", "_", const("SidecarAppIDLabel"))
    assert any(rl.get("sourceLabels") == [app_label] and rl["targetLabel"] == "app_id" for rl in ep["relabelings"])

    tarball = SHARED / "vendor" / "spin-operator-v0.6.1.tar.gz"
    if not tarball.is_file():
        pytest.fail(f"{tarball} is missing (shared/ beside the repository, or TODO_SHARED_DIR)", pytrace=False)
    port_name = None
    with tarfile.open(tarball) as tar:
        for m in tar.getmembers():
            if "/pkg/spinapp/" in m.name and m.name.endswith(".go") and not m.name.endswith("_test.go"):
                found = re.search(r'HTTPPortName\s*=\s*"([^"]+)"', io.TextIOWrapper(tar.extractfile(m)).read())
                port_name = port_name or (found and found.group(1))
    assert port_name, "spin-operator's HTTPPortName not found in its pkg/spinapp"
    metrics = monitors["todo-metrics"]["spec"]
    [ep] = metrics["podMetricsEndpoints"]
    assert (ep["port"], ep["path"]) == (port_name, "/metrics")
    app = yaml.safe_load((REPO / "deploy" / "base" / "apps" / "metrics.yaml").read_text())
    assert metrics["selector"]["matchLabels"].items() <= app["spec"]["podLabels"].items()
    assert app["spec"]["replicas"] == 1, "one scrape target for the global totals"

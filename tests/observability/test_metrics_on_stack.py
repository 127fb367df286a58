"""The metrics end to end, on the running dev stack and its Prometheus: Prometheus scrapes every
sidecar's metrics port, the Scheduler and the services' GET /metrics; after a known workload
(N creates, M invalid events, K events of a newer MINOR) the values Prometheus answers grew by
exactly N, M and K; `./dev doctor` (tools/devstack/doctor.sh) reports the stack; and a stopped consumer makes the lag alert
go pending (and the sidecar-down alert fire) until it is back.

The counters are global totals kept in PostgreSQL, so the assertions are on increases between a
query before and one after the workload, never on absolute values. They are exact, so the stack
must not be busy with other writers meanwhile (another test run, a benchmark).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from devstack_apps import apps  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "contracts" / "events" / "examples" / "task-events"
# `expected` of a task-events mismatch: MAJOR.MINOR of the version the consumers know (the working
# schema's; 1.1 since issue 22).
KNOWN_TASK_EVENTS = ".".join(
    json.loads((REPO / "contracts" / "events" / "task-events.schema.json").read_text())["x-schema-version"].split(".")[:2])
SCRAPE_S = 5  # observability/prometheus.yml.in: scrape and evaluation interval
N, M, K = 5, 3, 4


def dev(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(REPO / "dev"), *args], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, f"./dev {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def query(prom: str, expr: str) -> list[dict]:
    r = requests.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "success", f"{expr}: {r.status_code} {r.text[:300]}"
    return r.json()["data"]["result"]


def value(prom: str, expr: str) -> float:
    """The one value of `expr` (0 when it has none: a counter never incremented is absent)."""
    result = query(prom, expr)
    assert len(result) <= 1, f"{expr} has {len(result)} series"
    return float(result[0]["value"][1]) if result else 0.0


def alerts(prom: str) -> list[dict]:
    return requests.get(f"{prom}/api/v1/alerts", timeout=10).json()["data"]["alerts"]


def wait_for(what: str, fn, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})", pytrace=False)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_from(example: str, user_id: str, **changes) -> dict:
    ev = json.loads((EXAMPLES / example).read_text())
    ev.update(event_id=str(uuid.uuid4()), user_id=user_id, task_id=str(uuid.uuid4()), timestamp=now_iso())
    ev.update(changes)
    return ev


# Each quantity: (PromQL of one value, the increase the workload makes). `max without (instance,
# job)` reads the global totals once however many targets report them.
def g(metric: str, **labels: str) -> str:
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"sum(max without (instance, job) ({metric}{{{sel}}}))"


EXPECTED = {
    # the N creates, published by the outbox relay
    "published task-events task.created": (g("events_published_total", topic="task-events", event_type="task.created"), N),
    "published task-updates task.created": (g("events_published_total", topic="task-updates", event_type="task.created"), N),
    # ... and consumed; the K newer-MINOR events are task.created events too
    "consumed by audit": (g("events_consumed_total", consumer="audit", topic="task-events", event_type="task.created"), N + K),
    "consumed by recurring": (g("events_consumed_total", consumer="recurring", topic="task-events", event_type="task.created"), N + K),
    "consumed by realtime": (g("events_consumed_total", consumer="realtime", topic="task-updates", event_type="task.created"), N),
    "processing durations of audit": (
        g("event_processing_duration_seconds_count", consumer="audit", event_type="task.created"), N + K),
    # the M invalid events (schema_version 1.7.0, an empty title), refused by both consumers
    "invalid, by audit": (g("schema_validation_errors_total", topic="task-events", schema_version="1.7.0", consumer="audit"), M),
    "invalid, by every consumer": (g("schema_validation_errors_total", topic="task-events", schema_version="1.7.0"), 2 * M),
    "processing errors of audit": (g("event_processing_errors_total", consumer="audit", event_type="unknown"), M),
    # the K events of schema_version 1.3.0, accepted with a mismatch by both consumers
    "mismatches, by audit": (
        g("schema_version_mismatches_total", topic="task-events", expected=KNOWN_TASK_EVENTS, actual="1.3", consumer="audit"), K),
    "mismatches, by every consumer": (
        g("schema_version_mismatches_total", topic="task-events", expected=KNOWN_TASK_EVENTS, actual="1.3"), 2 * K),
}


# Everything of those metrics, whatever the labels: if anything else wrote meanwhile (another test
# run, a benchmark), these grow by more than the workload's own events and the run is repeated.
TOTALS = {
    "all published": (g("events_published_total"), 2 * N),
    "all consumed": (g("events_consumed_total"), 3 * N + 2 * K),
    "all validation errors": (g("schema_validation_errors_total"), 2 * M),
    "all processing errors": (g("event_processing_errors_total"), 2 * M),
    "all mismatches": (g("schema_version_mismatches_total"), 2 * K),
}


def snapshot(prom: str, quantities: dict = EXPECTED) -> dict[str, float]:
    return {name: value(prom, expr) for name, (expr, _) in quantities.items()}


def wait_quiet(prom: str, timeout: float = 180) -> dict[str, float]:
    """The totals once they stayed the same over three scrapes (nobody else is writing)."""
    last = snapshot(prom, TOTALS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(3 * SCRAPE_S)
        now = snapshot(prom, TOTALS)
        if now == last:
            return now
        last = now
    pytest.fail(f"the stack never went quiet for {3 * SCRAPE_S} s within {timeout:.0f} s: something else keeps "
                f"writing (another test run, a benchmark), so exact counts cannot be checked", pytrace=False)


def test_prometheus_scrapes_every_sidecar_the_scheduler_and_the_metrics(prometheus, stack_env, new_user):
    def targets():
        active = requests.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=10).json()
        return active["data"]["activeTargets"]

    want = {("dapr-sidecars", f"http://127.0.0.1:{m}/metrics") for _, m in apps()}
    want |= {("dapr-scheduler", stack_env["SCHEDULER_METRICS_URL"]), ("todo-metrics", f"{stack_env['HOST_URL']}/metrics")}
    up = wait_for(
        "every target up",
        lambda: (t := {(x["labels"]["job"], x["scrapeUrl"]) for x in targets() if x["health"] == "up"}) >= want and t,
        timeout=30,
    )
    assert want <= up, sorted(want - up)
    # Dapr's own metrics from every sidecar, the services' from the metrics component
    ids = {r["metric"]["app_id"] for r in query(prometheus, "dapr_runtime_component_loaded")}
    assert ids >= {a for a, _ in apps()}, ids
    lag = {r["metric"]["consumer"] for r in query(prometheus, "event_consumer_lag_seconds")}
    assert lag == {"audit", "recurring", "notification", "realtime"}
    # the recorded publish latency (Dapr's milliseconds as seconds): one write publishes to
    # task-events (a fresh stack has published nothing, so Dapr has no histogram yet)
    new_user().create(title="publish latency probe")
    les = wait_for(
        "event_publish_duration_seconds_bucket{topic=task-events} recorded",
        lambda: {r["metric"]["le"] for r in query(prometheus, 'event_publish_duration_seconds_bucket{topic="task-events"}')},
        timeout=6 * SCRAPE_S,
    )
    assert {"0.005", "0.010", "0.100", "1", "5", "+Inf"} <= les, sorted(les)


def test_a_known_workload_is_counted_exactly(prometheus, stack, new_user, topic_reader):
    for attempt in range(1, 4):
        disturbed = run_workload(prometheus, stack, new_user, topic_reader)
        if not disturbed:
            return
        print(f"\nattempt {attempt}: other writers during the workload ({disturbed}); again")
    pytest.fail(f"three attempts were disturbed by other writers: {disturbed}", pytrace=False)


def run_workload(prometheus, stack, new_user, topic_reader) -> str | None:
    """The workload once; None when it was counted exactly, else what else was counted meanwhile."""
    dlq = topic_reader("task-events.dlq")
    user = new_user()
    # Before: nobody else writes, and Prometheus has scraped the state the workload starts from.
    totals_before = wait_quiet(prometheus)
    before = snapshot(prometheus)
    publishes_before = value(prometheus, g("event_publish_duration_seconds_count", topic="task-events"))

    created = [user.create(title=f"observed {i}")["id"] for i in range(N)]
    invalid = []
    for _ in range(M):
        ev = event_from("invalid/title-too-short.json", user.user_id, schema_version="1.7.0")
        stack.publish("task-api", "task-events", ev, partition_key=ev["task_id"])
        invalid.append(ev["event_id"])
    newer = []
    for _ in range(K):
        ev = event_from("valid/task-created-full.json", user.user_id, schema_version="1.3.0", observed_by="test_stack")
        stack.publish("task-api", "task-events", ev, partition_key=ev["task_id"])
        newer.append(ev["task_id"])

    # Everything was handled: audited, and each invalid event dead-lettered by both consumers.
    for tid in created + newer:
        user.wait_audit(tid, 1)
    got = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and sum(got.values()) < 2 * M:
        for v in dlq.collect(lambda v: isinstance(v, dict) and isinstance(v.get("data"), dict), 2):
            if v["data"].get("event_id") in invalid:
                got[v["data"]["event_id"]] = got.get(v["data"]["event_id"], 0) + 1
    assert sum(got.values()) == 2 * M, f"dead-lettered copies (audit and recurring): {got}"

    def increases():
        now = snapshot(prometheus)
        return {name: now[name] - before[name] for name in EXPECTED}

    def arrived():
        now = increases()
        return all(now[name] >= want for name, (_, want) in EXPECTED.items()) and now

    wait_for("Prometheus to have the workload", arrived, timeout=60)
    time.sleep(2 * SCRAPE_S)  # a few more scrapes: nothing more arrives
    final = increases()
    totals = snapshot(prometheus, TOTALS)
    others = {name: totals[name] - totals_before[name] - want for name, (_, want) in TOTALS.items()}
    if any(v > 0 for v in others.values()):
        return ", ".join(f"{name} +{v:g}" for name, v in others.items() if v > 0)
    table = "\n".join(f"  {name:<36} +{final[name]:g} (want +{EXPECTED[name][1]})" for name in EXPECTED)
    print(f"\nincreases after N={N} creates, M={M} invalid, K={K} newer-MINOR events:\n{table}")
    assert final == {name: float(want) for name, (_, want) in EXPECTED.items()}, table
    assert all(v == 0 for v in others.values()), others
    # Dapr's own publish counter (the recorded latency histogram) saw at least those publishes
    publishes = value(prometheus, g("event_publish_duration_seconds_count", topic="task-events")) - publishes_before
    assert publishes >= N + M + K, publishes
    return None


def test_doctor_reports_every_sidecar_and_exits_by_what_it_found(stack):
    # `./dev doctor` runs this script
    p = subprocess.run([str(REPO / "tools" / "devstack" / "doctor.sh")], capture_output=True, text=True, timeout=120)
    out = p.stdout
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert p.returncode == (1 if fails else 0), out + p.stderr
    for app, _ in apps():
        assert re.search(rf"^ok +daprd-{re.escape(app)}: components ", out, re.MULTILINE), out
    for part in ("kafka", "postgres", "scheduler", "pushpin", "prometheus", "lag"):
        assert re.search(rf"^(ok|WARN|FAIL) +{part}\b", out, re.MULTILINE), f"{part} not checked:\n{out}"
    assert "subscribed: task-events -> /audit/events (dead letters: task-events.dlq)" in out


@pytest.mark.disruptive
def test_a_stopped_consumer_makes_the_lag_alert_go_pending(prometheus, new_user):
    lag = 'max(event_consumer_lag_seconds{consumer="recurring",topic="task-events"})'
    wait_for("recurring to be up to date", lambda: value(prometheus, lag) < 30, timeout=60)

    def state(name: str, **labels: str) -> str | None:
        for a in alerts(prometheus):
            if a["labels"]["alertname"] == name and all(a["labels"].get(k) == v for k, v in labels.items()):
                return a["state"]
        return None

    assert state("EventProcessingLagHigh", consumer="recurring") is None
    dev("stop", "daprd-recurring")
    try:
        t0 = time.monotonic()
        user = new_user()
        user.create(title="while recurring is stopped")
        down = wait_for(
            "the sidecar-down alert",
            lambda: state("DaprComponentUnhealthy", cause="sidecar_down", app_id="recurring") == "firing",
            timeout=30,
        )
        assert down
        # the lag crosses 30 s 30 s after the publish; then one scrape and one evaluation
        wait_for(
            "EventProcessingLagHigh pending for recurring",
            lambda: state("EventProcessingLagHigh", consumer="recurring", topic="task-events") == "pending",
            timeout=30 + 4 * SCRAPE_S + 30,
        )
        took = time.monotonic() - t0
        seen = value(prometheus, lag)
        assert 30 < seen < 30 + 6 * SCRAPE_S + took, seen
        assert value(prometheus, 'max(event_consumer_pending_events{consumer="recurring"})') >= 1
        assert value(prometheus, 'max(event_consumer_lag_seconds{consumer="audit"})') < 30, "audit kept up"
        print(f"\nlag alert pending {took:.1f} s after the publish (lag {seen:.1f} s)")
    finally:
        dev("start", "daprd-recurring")
    wait_for("recurring to catch up", lambda: value(prometheus, lag) == 0, timeout=90)
    wait_for("the lag alert to clear", lambda: state("EventProcessingLagHigh", consumer="recurring") is None, timeout=30)

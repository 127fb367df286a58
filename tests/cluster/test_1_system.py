"""The system in the one-node cluster: what a SpinKube user who follows deploy/README.md gets.

The node's SpinKube shim serves a Wasm pod, and runs a Linux container of such a pod without its
environment (why the SpinApps run on spin-operator's other executor here: docs/k8s.md). The
migrations Job completes; every SpinApp reaches its replicas ready, each pod of the services with a
daprd injected by Dapr's sidecar injector (and the web board without); Dapr's operator
serves the project's Components and Subscriptions; then, through the cluster's Services (kube-proxy
from this machine): a REST create is audited once, a completed recurring task gets its next
occurrence once, an in-app reminder is delivered once through the in-cluster Scheduler, and an SSE
client through Pushpin's Service sees the update."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from clients import Api, describe, mint_token
from conftest import pods_of
from stage import APPS, NS, SIDECAR_APPS, SPINTAINER, kjson, kubectl, wait_until

DAPR_VERSION = "1.18.3"


@pytest.fixture(scope="module")
def db(stage):
    with psycopg.connect(stage.pg_dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def urls(stage) -> dict:
    return {name: stage.service_url(name) for name in ("task-api", "audit", "notification", "pushpin")}


@pytest.fixture(scope="module")
def new_user(stage, urls):
    secret = stage.secret("better-auth-secret", "secret")

    def make(base: str = "task-api") -> Api:
        uid = f"k8s-{uuid.uuid4().hex[:10]}"
        return Api(urls[base], mint_token(secret, uid), uid)

    return make


def count(db, sql: str, *params) -> int:
    return db.execute(sql, params).fetchone()[0]


def shim_pod(name: str, image: str, container: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"runtimeClassName": "wasmtime-spin-v2", "restartPolicy": "Never",
                     "automountServiceAccountToken": False, "containers": [{"name": "c", "image": image, **container}]}}


def run_pod(pod: dict) -> None:
    kubectl("-n", "default", "delete", "pod", pod["metadata"]["name"], "--ignore-not-found", "--wait=true")
    kubectl("apply", "-f", "-", input=json.dumps(pod))


def test_the_shim_serves_a_wasm_pod(stage):
    """The web component under containerd-shim-spin (RuntimeClass wasmtime-spin-v2), as the
    executor containerd-shim-spin would run it: command ["/"], the component retained by name."""
    pod = shim_pod("shim-web", stage.images["TODO_APP_IMAGE"], {
        "command": ["/"], "ports": [{"containerPort": 80}],
        "env": [{"name": "SPIN_COMPONENTS_TO_RETAIN", "value": "web"},
                {"name": "SPIN_HTTP_LISTEN_ADDR", "value": "0.0.0.0:80"},
                *[{"name": f"SPIN_VARIABLE_{v}", "value": "x"} for v in ("JWT_SECRET", "DAPR_API_TOKEN", "APP_API_TOKEN", "PUSHPIN_SIG_KEY")]]})
    pod["spec"]["restartPolicy"] = "Always"
    run_pod(pod)
    try:
        ip = wait_until("the shim's web pod running", lambda: (p := kjson("-n", "default", "get", "pod", "shim-web"))["status"].get("phase") == "Running"
                        and p["status"].get("podIP"), timeout=600, interval=2)
        import requests
        r = wait_until("the shim's web pod answers", lambda: (x := requests.get(f"http://{ip}/", timeout=5)).status_code == 200 and x, timeout=120)
        assert "<html" in r.text.lower(), r.text[:300]
    finally:
        kubectl("-n", "default", "delete", "pod", "shim-web", "--ignore-not-found", "--wait=false")


def test_the_shim_runs_a_linux_container_without_its_environment(stage):
    """containerd-shim-spin v0.24.0 (runwasi's executor: youki's setup_envs is a no-op for every
    container) runs a pod's Linux containers without the environment of their spec. An injected
    daprd gets none of its variables and exits ("trust anchors are required"). When this fails, the
    shim passes the environment: the SpinApps can go back to it (tests/cluster/stage.py)."""
    pod = shim_pod("shim-env", stage.images["TODO_PUSHPIN_IMAGE"], {  # an image with /bin/sh
        "command": ["/bin/sh", "-c", 'echo "ONE=[$ONE]"'], "env": [{"name": "ONE", "value": "single"}]})
    runc = json.loads(json.dumps(pod))
    runc["metadata"]["name"] = "runc-env"
    del runc["spec"]["runtimeClassName"]
    for p in (pod, runc):
        run_pod(p)
    try:
        for name in ("shim-env", "runc-env"):
            wait_until(f"{name} done", lambda: kjson("-n", "default", "get", "pod", name)["status"].get("phase") == "Succeeded", timeout=300, interval=1)
        assert kubectl("-n", "default", "logs", "runc-env").strip() == "ONE=[single]"
        assert kubectl("-n", "default", "logs", "shim-env").strip() == "ONE=[]"
    finally:
        kubectl("-n", "default", "delete", "pod", "shim-env", "runc-env", "--ignore-not-found", "--wait=false")


def test_the_migrations_job_completed(stage):
    job = kjson("-n", NS, "get", "job", "todo-migrate")
    assert job["status"].get("succeeded") == 1, job["status"]
    log = kubectl("-n", NS, "logs", "job/todo-migrate")
    assert "V8" in log, f"the Job's log names no V8 migration:\n{log}"


@pytest.mark.parametrize("app", APPS)
def test_every_spinapp_is_ready_and_the_services_have_an_injected_daprd(stage, app):
    spinapp = kjson("-n", NS, "get", "spinapp", app)
    conds = {c["type"]: c["status"] for c in spinapp["status"].get("conditions", [])}
    assert conds.get("Available") == "True", spinapp["status"]
    pods = [p for p in pods_of(app) if not p["metadata"].get("deletionTimestamp")]
    assert pods and spinapp["status"].get("readyReplicas") == len(pods), (spinapp["status"], [p["metadata"]["name"] for p in pods])
    for pod in pods:
        app_container = next(c for c in pod["spec"]["containers"] if c["name"] == app)
        assert app_container["image"] == SPINTAINER and "-f" in app_container["args"], app_container
        # Spin's variables from the runtime configuration (a static provider: no cost per read),
        # none as SPIN_VARIABLE_* environment variables (milliseconds per read; docs/spin-variables.md).
        args = app_container["args"]
        assert "--runtime-config-file" in args and args[args.index("--runtime-config-file") + 1] == "/runtime-config.toml", args
        mount = next((m for m in app_container.get("volumeMounts", []) if m["mountPath"] == "/runtime-config.toml"), None)
        vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        assert mount and vols[mount["name"]]["secret"]["secretName"] == "todo-runtime-config", (mount, vols)
        spin_env = sorted(e["name"] for e in app_container.get("env", []) if e["name"].startswith("SPIN_VARIABLE_"))
        assert not spin_env, f"{pod['metadata']['name']}: Spin variables in the environment: {spin_env}"
        statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
        assert all(c["ready"] for c in statuses.values()), statuses
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        if app in SIDECAR_APPS:
            assert "daprd" in containers, f"{pod['metadata']['name']}: no daprd injected ({sorted(containers)})"
            assert containers["daprd"]["image"].endswith(f"/dapr/daprd:{DAPR_VERSION}"), containers["daprd"]["image"]
            env = {e["name"] for e in containers["daprd"].get("env", [])}
            assert {"DAPR_API_TOKEN", "APP_API_TOKEN"} <= env, env
        else:
            assert "daprd" not in containers, f"{app} must not have a sidecar"


def test_dapr_serves_the_projects_components_and_subscriptions(stage):
    out = kubectl("-n", NS, "get", "components,subscriptions")
    for name in ("pubsub", "statestore", "tododb", "outbox-drain", "smtp"):
        assert f"component.dapr.io/{name}" in out, out
    subs = kjson("-n", NS, "get", "subscriptions")["items"]
    assert {s["metadata"]["name"] for s in subs}, out
    pod = next(p for p in pods_of("audit") if p["status"].get("phase") == "Running")
    log = kubectl("-n", NS, "logs", pod["metadata"]["name"], "-c", "daprd")
    assert "Component loaded: pubsub (pubsub.kafka/v1)" in log, log[-3000:]
    assert "task-events" in log, "the audit sidecar's log never names its topic task-events"


def test_a_rest_create_is_audited_once(new_user, urls, db):
    user = new_user()
    t = user.create(title="audited in the cluster", priority="high")
    audit = Api(urls["audit"], user.token, user.user_id)
    rows = audit.wait_audit(t["id"], 1, timeout=90)
    assert [r["event_type"] for r in rows] == ["task.created"], rows
    time.sleep(3)  # a duplicate delivery would land by now
    assert count(db, "SELECT count(*) FROM audit_log WHERE task_id = %s", t["id"]) == 1


def test_a_completed_recurring_task_gets_its_next_occurrence_once(new_user, db):
    user = new_user()
    t = user.create(title="rolled in the cluster", due_date="2030-01-10T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY")
    r = user.complete(t["id"])
    assert r.status_code == 200, describe(r)
    nxt = wait_until("the next occurrence", lambda: next(
        (x for x in user.list_all() if x["parent_task_id"] == t["id"]), None), timeout=90)
    assert nxt["due_date"] == "2030-01-11T09:00:00.000Z", nxt
    time.sleep(3)
    assert count(db, "SELECT count(*) FROM tasks WHERE parent_task_id = %s", t["id"]) == 1
    assert count(db, "SELECT count(*) FROM recurrence_rolls WHERE from_task_id = %s", t["id"]) == 1


def test_an_in_app_reminder_is_delivered_once_through_the_scheduler(new_user, urls, db):
    user = new_user()
    when = (datetime.now(timezone.utc) + timedelta(seconds=6)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    t = user.create(title="reminded in the cluster", reminders=[{"remind_at": when}])
    rid = t["reminders"][0]["id"]
    notification = Api(urls["notification"], user.token, user.user_id)
    rec = notification.wait_reminder(rid, "sent", timeout=90)
    assert rec["attempts"] == 1, rec
    time.sleep(3)
    feed = db.execute("SELECT payload FROM realtime_feed WHERE user_id = %s", (user.user_id,)).fetchall()
    due = [p for (p,) in feed if p.get("event_type") == "reminder.due" and (p.get("reminder") or {}).get("reminder_id") == rid]
    assert len(due) == 1, f"reminder.due in the feed: {len(due)} ({feed})"


def test_an_sse_client_through_pushpin_sees_the_update(new_user, urls):
    from test_realtime import Sse, is_update_of, ticket

    user = new_user()
    stream = Sse(f"{urls['pushpin']}/realtime/events?ticket={ticket(urls['pushpin'], user)}")
    try:
        time.sleep(1)
        t = user.create(title="streamed in the cluster")
        got = stream.until(is_update_of(t["id"], "task.created"), timeout=60)
        assert got["data"]["task_id"] == t["id"], json.dumps(got)[:500]
    finally:
        stream.close()

#!/usr/bin/env python3
"""`./dev doctor`: the seed's "Troubleshooting" section as a command, for the running dev stack.

Checks, in order, and prints one line per finding (`ok`, `WARN`, `FAIL`) with the fix for each
problem; exits 1 when anything FAILs (warnings alone exit 0), 2 when it cannot run at all.

- the stack's parts (PID files of ./dev), the secrets file;
- every sidecar of tools/devstack/apps.tsv: healthy, takes the stack's API token, and loaded
  exactly the components, subscriptions (topic, route, dead-letter topic) and Resiliency that
  contracts/dapr-components/selfhosted/ scope to its app-id, connected to the Scheduler
  (`GET /v1.0/metadata`), and its secret store resolves the database URL;
- the broker: reachable, every topic of tools/kafka/topics.txt present, each dead-letter topic's
  depth and when its newest dead letter arrived (recent ones FAIL);
- PostgreSQL through a sidecar's `tododb` binding: migrations current, the outbox drained, the
  pending dead letters grouped by topic, consumer and reason (any FAILs: `./dev dlq`);
- the Scheduler, Pushpin (client port and publish API), the mail sink, the app;
- the event metrics (GET /metrics: the consumers' lag) and Prometheus (targets, alerts).

Addresses come from ~/.cache/todo-events/run/stack.env (written by ./dev up) and secrets.env,
with dev.sh's defaults where stack.env has none. Needs the test venv (requests, PyYAML,
confluent-kafka), which tools/devstack/setup.sh installs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
import uuid
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stackinfo  # noqa: E402  (the one reader of apps.tsv, stack.env, secrets.env)

ROOT, CACHE, RUN = stackinfo.ROOT, stackinfo.CACHE, stackinfo.RUN
RESOURCES = ROOT / "contracts" / "dapr-components" / "selfhosted"
SECRET_KEYS = ("DAPR_API_TOKEN", "APP_API_TOKEN", "PG_PASSWORD", "JWT_SECRET", "PUSHPIN_SIG_KEY")
TIMEOUT = 3


def read_env(path: Path) -> dict[str, str]:
    return stackinfo.read_env(path, required=False)


def apps() -> list[dict]:
    """tools/devstack/apps.tsv: app-id, HTTP port, gRPC port, metrics port, Spin variable."""
    return [vars(a) for a in stackinfo.apps()]


class Report:
    def __init__(self) -> None:
        self.failed = 0
        self.warned = 0

    def _print(self, tag: str, what: str, detail: str, fix: str | None = None) -> None:
        print(f"{tag:<5} {what}: {detail}")
        if fix:
            for line in fix.splitlines():
                print(f"      fix: {line}")

    def ok(self, what: str, detail: str) -> None:
        self._print("ok", what, detail)

    def warn(self, what: str, detail: str, fix: str | None = None) -> None:
        self.warned += 1
        self._print("WARN", what, detail, fix)

    def fail(self, what: str, detail: str, fix: str) -> None:
        self.failed += 1
        self._print("FAIL", what, detail, fix)


def alive(part: str) -> int | None:
    try:
        pid = int((RUN / "pids" / f"{part}.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def log_hint(part: str, pattern: str | None = None) -> str:
    """The last log line of `part` that matches `pattern` (default: an error), for the fix text."""
    log = RUN / "logs" / f"{part}.log"
    if not log.is_file():
        return f"(no log at {log})"
    rx = re.compile(pattern or r"level=(error|fatal)|\bERROR\b|\berror\b", re.IGNORECASE)
    last = None
    with log.open(errors="replace") as fh:
        for line in fh:
            if rx.search(line):
                last = line.strip()
    if last:
        return f"last error in {log}: {last[:300]}"
    return f"log: {log}"


# --- what the resources say each app-id loads --------------------------------------------------


def resources() -> list[dict]:
    docs = []
    for f in sorted(RESOURCES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def expected_for(app: str, docs: list[dict]) -> tuple[dict, set, set]:
    """(components {name: type}, subscriptions {(pubsub, topic, route, dlq)}, resiliencies) of `app`."""
    comps, subs, res = {}, set(), set()
    for d in docs:
        scopes = d.get("scopes")
        if scopes and app not in scopes:
            continue
        kind, name, spec = d.get("kind"), d["metadata"]["name"], d.get("spec") or {}
        if kind == "Component":
            comps[name] = spec.get("type")
        elif kind == "Subscription" and scopes:
            route = (spec.get("routes") or {}).get("default") or spec.get("route")
            subs.add((spec.get("pubsubname"), spec.get("topic"), route, spec.get("deadLetterTopic") or None))
        elif kind == "Resiliency" and scopes:
            res.add(name)
    return comps, subs, res


# --- the checks -----------------------------------------------------------------------------------


def check_parts(r: Report, env: dict, app_list: list[dict]) -> None:
    parts = ["postgres", "kafka", "scheduler", "mailsink", "app", "pushpin", "prometheus"]
    parts += [f"daprd-{a['app']}" for a in app_list]
    down = []
    # Kafka and PostgreSQL the user brought (TODO_KAFKA_BROKERS, TODO_DATABASE_URL): not processes
    # of the stack; check_broker and check_database reach them.
    external = {"kafka": env.get("KAFKA_EXTERNAL") == "1", "postgres": env.get("PG_EXTERNAL") == "1"}
    for p in parts:
        if external.get(p):
            r.ok(p, "external (not started by ./dev; reached below)")
            continue
        pid = alive(p)
        if pid:
            r.ok(p, f"running (pid {pid})")
        else:
            down.append(p)
            r.fail(p, "not running", f"./dev start {p}   ({log_hint(p)})")
    if len(down) == len(parts):
        print("      (nothing of the stack runs: ./dev up)")


def check_secrets(r: Report, secrets: dict) -> None:
    path = RUN / "secrets.env"
    if not path.is_file():
        r.fail("secrets", f"{path} is missing", "./dev up generates it (tokens, the database password, the JWT secret)")
        return
    missing = [k for k in SECRET_KEYS if not secrets.get(k)]
    if missing:
        r.fail("secrets", f"{path} lacks {', '.join(missing)}",
               "./dev up adds each missing one (then restart what uses it: ./dev down && ./dev up)")
    else:
        r.ok("secrets", f"{path}: {', '.join(SECRET_KEYS)} set")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        r.warn("secrets", f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")


def sidecar_url(env: dict, a: dict) -> str:
    return env.get(f"DAPR_URL_{a['app'].replace('-', '_')}", f"http://127.0.0.1:{a['http']}")


def check_sidecars(r: Report, env: dict, secrets: dict, app_list: list[dict]) -> None:
    docs = resources()
    token = secrets.get("DAPR_API_TOKEN", "")
    for a in app_list:
        app, url, what = a["app"], sidecar_url(env, a), f"daprd-{a['app']}"
        fix_restart = f"./dev stop {what}; ./dev start {what}   ({log_hint(what)})"
        try:
            h = requests.get(f"{url}/v1.0/healthz", timeout=TIMEOUT)
        except requests.RequestException as e:
            r.fail(what, f"{url} does not answer ({type(e).__name__})", f"./dev start {what}   ({log_hint(what)})")
            continue
        if h.status_code != 204:
            r.fail(what, f"unhealthy: /v1.0/healthz answered {h.status_code} {h.text[:200]}", fix_restart)
        m = requests.get(f"{url}/v1.0/metadata", headers={"dapr-api-token": token}, timeout=TIMEOUT)
        if m.status_code == 401:
            r.fail(what, "refuses the stack's DAPR_API_TOKEN (401)",
                   f"it was started with another token than secrets.env's: {fix_restart}")
            continue
        if m.status_code != 200:
            r.fail(what, f"/v1.0/metadata answered {m.status_code}", fix_restart)
            continue
        md = m.json()
        want_comps, want_subs, want_res = expected_for(app, docs)
        got_comps = {c["name"]: c["type"] for c in md.get("components") or []}
        missing = {n: t for n, t in want_comps.items() if got_comps.get(n) != t}
        extra = sorted(set(got_comps) - set(want_comps))
        if missing:
            names = ", ".join(f"{n} ({t})" for n, t in sorted(missing.items()))
            r.fail(what, f"components not loaded: {names}",
                   f"{log_hint(what, '|'.join(map(re.escape, missing)) + '.*(error|fail)')}\n"
                   f"a component fails when its secret or backend is missing (TODO_PG_URL, Kafka, SMTP); "
                   f"fix that, then: {fix_restart}")
        else:
            r.ok(what, f"components {', '.join(sorted(got_comps))}")
        if extra:
            r.warn(what, f"loaded components that contracts/ does not scope to it: {', '.join(extra)}",
                   f"check the scopes in {RESOURCES}")
        got_subs = {
            (s.get("pubsubname"), s.get("topic"), ((s.get("rules") or [{}])[0]).get("path"), s.get("deadLetterTopic") or None)
            for s in md.get("subscriptions") or []
        }
        if got_subs != want_subs:
            r.fail(what, f"subscriptions {sorted(map(str, got_subs))} differ from {sorted(map(str, want_subs))}",
                   f"the Subscriptions of {RESOURCES / 'subscriptions.yaml'} (scopes) are read at start: {fix_restart}")
        elif want_subs:
            r.ok(what, "subscribed: " + ", ".join(f"{t} -> {p} (dead letters: {d})" for _, t, p, d in sorted(want_subs)))
        got_res = {x.get("name") for x in md.get("resiliencies") or []}
        if not want_res <= got_res:
            r.fail(what, f"Resiliency {', '.join(sorted(want_res - got_res))} not loaded",
                   f"without it deliveries are retried without bound: check {RESOURCES / 'resiliency.yaml'}; {fix_restart}")
        connected = ((md.get("scheduler") or {}).get("connected_addresses")) or []
        if not connected:
            r.fail(what, "not connected to the Scheduler (Jobs API unavailable)",
                   f"./dev start scheduler (if it is down), then: {fix_restart}")
        if duplicated_metrics(what):
            r.fail(what, "serves two copies of its metrics since a hot reload (dapr/dapr#10535): its counters "
                   "jump back and forth on every scrape ('error gathering metrics ... was collected before' in its log)",
                   f"daprd 1.18.3 reloads a resource file of {RESOURCES} when it changes; restart it: "
                   f"./dev stop {what}; ./dev start {what}")
        if "secretstore" in want_comps:
            s = requests.get(f"{url}/v1.0/secrets/secretstore/PG_URL", headers={"dapr-api-token": token}, timeout=TIMEOUT)
            if s.status_code != 200:
                r.fail(what, f"its secret store does not resolve PG_URL ({s.status_code})",
                       "daprd reads TODO_PG_URL from its environment (dev.sh sets it): " + fix_restart)


def duplicated_metrics(part: str, within_s: float = 120) -> bool:
    """Whether daprd logged, within the last `within_s` seconds, that a scrape found a metric series
    twice: Dapr 1.18.3 after a hot reload (dapr/dapr#10535)."""
    log = RUN / "logs" / f"{part}.log"
    if not log.is_file():
        return False
    with log.open("rb") as fh:
        fh.seek(max(0, log.stat().st_size - 256 * 1024))
        tail = fh.read().decode(errors="replace").splitlines()
    now = time.time()
    for line in reversed(tail):
        m = re.match(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)', line)
        if not m:
            continue
        at = time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone
        if now - at > within_s or "Starting Dapr Runtime" in line:  # too old, or before this process
            return False
        if "was collected before with the same name and label values" in line:
            return True
    return False


def check_broker(r: Report, env: dict, window_min: float) -> None:
    # The first of the brokers (an external list is host:port,host:port).
    bootstrap = env.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}").split(",")[0]
    try:
        from confluent_kafka import Consumer, TopicPartition
    except ImportError:
        r.fail("kafka", "confluent-kafka is not installed in this Python", "tools/devstack/setup.sh (installs the venv)")
        return
    if not port_open(int(bootstrap.rsplit(":", 1)[1]), bootstrap.rsplit(":", 1)[0]):
        r.fail("kafka", f"broker {bootstrap} does not answer", f"./dev start kafka   ({log_hint('kafka')})")
        return
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"doctor-{uuid.uuid4()}",
                  "enable.auto.commit": False, "socket.timeout.ms": 5000})
    try:
        meta = c.list_topics(timeout=5)
        want = {}
        for line in (ROOT / "tools" / "kafka" / "topics.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, parts = line.split()[:2]
                want[name] = int(parts)
        missing = sorted(t for t in want if t not in meta.topics or meta.topics[t].error is not None)
        if missing:
            r.fail("kafka", f"topics missing: {', '.join(missing)} (auto-creation is off)",
                   "tools/kafka/kafka.sh create-topics")
        else:
            r.ok("kafka", f"{bootstrap}: topics {', '.join(sorted(want))}")
        now = time.time()
        for topic in sorted(t for t in want if t.endswith(".dlq") and t not in missing):
            depth, newest = 0, None
            for p in meta.topics[topic].partitions:
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                depth += high - low
                if high > low:
                    c.assign([TopicPartition(topic, p, high - 1)])
                    msg = c.poll(3)
                    if msg is not None and not msg.error():
                        ts = msg.timestamp()[1] / 1000
                        newest = ts if newest is None else max(newest, ts)
            if depth == 0:
                r.ok(f"dead letters {topic}", "empty")
                continue
            age = f"newest {(now - newest) / 60:.0f} min ago" if newest else "newest unknown"
            detail = f"{depth} event(s), {age}"
            read = (f"why each was refused: ./dev dlq list topic={topic.removesuffix('.dlq')} state=all; "
                    f"the raw messages: tools/kafka/kafka.sh consume {topic} 20")
            if newest and now - newest < window_min * 60:
                r.fail(f"dead letters {topic}", detail + f" (within the last {window_min:g} min)",
                       f"{read}\nan invalid event or an unknown MAJOR (schema_validation_errors_total), or one a consumer "
                       f"failed on 5 times: fix the producer or the consumer, then ./dev dlq redrive what should not be lost")
            else:
                r.ok(f"dead letters {topic}", detail)
    finally:
        c.close()


def binding_query(env: dict, secrets: dict, app_list: list[dict], sql: str) -> dict:
    """One statement through the first sidecar that has the `tododb` binding (task-api's)."""
    a = next(x for x in app_list if x["app"] == "task-api")
    body = {"operation": "query", "metadata": {"sql": sql, "params": "[]"}}
    resp = requests.post(f"{sidecar_url(env, a)}/v1.0/bindings/tododb", json=body,
                         headers={"dapr-api-token": secrets.get("DAPR_API_TOKEN", "")}, timeout=10)
    resp.raise_for_status()
    rows = resp.json()
    if not rows:
        raise RuntimeError("the statement failed in the database (no row)")
    return json.loads(rows[0][0])


def check_database(r: Report, env: dict, secrets: dict, app_list: list[dict]) -> None:
    latest = max(int(re.match(r"V(\d+)__", p.name).group(1)) for p in (ROOT / "migrations").glob("V*__*.sql"))
    sql = ("SELECT jsonb_build_object('version', (SELECT max(version) FROM refinery_schema_history), "
           "'pending', (SELECT count(*) FROM outbox WHERE published_at IS NULL), "
           "'oldest', extract(epoch FROM now() - (SELECT min(created_at) FROM outbox WHERE published_at IS NULL)))::text")
    try:
        row = binding_query(env, secrets, app_list, sql)
    except Exception as e:  # noqa: BLE001 — any failure here is the finding
        if env.get("PG_EXTERNAL") == "1":
            fix = "is the database of TODO_DATABASE_URL up and reachable? (./dev does not start it)"
        else:
            fix = f"is PostgreSQL up (127.0.0.1:5432)? ./dev start postgres   ({log_hint('postgres')})"
        r.fail("postgres", f"a statement through daprd-task-api's tododb binding failed: {str(e)[:200]}", fix)
        return
    if (row.get("version") or 0) < latest:
        r.fail("postgres", f"schema at V{row.get('version')}, the repository has V{latest}",
               "apply the migrations: ./dev stop postgres; ./dev start postgres (runs todo-migrate)")
    else:
        r.ok("postgres", f"schema at V{row['version']} (migrations current), reached through the tododb binding")
    pending, oldest = row.get("pending") or 0, row.get("oldest")
    if pending and oldest and oldest > 60:
        r.fail("outbox", f"{pending} event(s) unpublished, the oldest for {oldest:.0f} s (the timer drains every 5 s)",
               "is Kafka up and daprd-task-api healthy (its cron binding outbox-drain calls POST /outbox-drain)? "
               f"({log_hint('daprd-task-api', 'outbox|publish')})")
    else:
        r.ok("outbox", f"{pending} event(s) waiting" + (f", oldest {oldest:.1f} s" if pending and oldest else ""))


def check_dead_letters(r: Report, env: dict, secrets: dict, app_list: list[dict]) -> None:
    """Pending dead letters (state `dead` in PostgreSQL, docs/deadletters.md), grouped by topic,
    consumer and reason: each group FAILs until an operator re-drives or accepts it."""
    sql = ("SELECT jsonb_build_object('groups', COALESCE(jsonb_agg(g ORDER BY g->>'topic', g->>'consumer', "
           "g->>'reason'), '[]'::jsonb))::text FROM (SELECT jsonb_build_object('topic', topic, 'consumer', consumer, "
           "'reason', reason_class, 'n', count(*), 'oldest_s', extract(epoch FROM now() - min(dead_since)), "
           "'example', min(reason), 'ids', (array_agg(id ORDER BY id))[1:5]) AS g FROM dead_letters "
           "WHERE state = 'dead' GROUP BY topic, consumer, reason_class) x")
    try:
        row = binding_query(env, secrets, app_list, sql)
    except Exception as e:  # noqa: BLE001 — the database check says why
        r.warn("dead letters", f"not read: {str(e)[:200]}", "see the postgres check")
        return
    groups = row.get("groups") or []
    if not groups:
        r.ok("dead letters", "none pending")
        return
    for g in groups:
        ids = " ".join(str(i) for i in g["ids"])
        who = g["consumer"] or "(a sidecar)"
        consumer = f" consumer={g['consumer']}" if g["consumer"] else ""
        r.fail(f"dead letters {g['topic']}/{who}",
               f"{g['n']} pending, reason {g['reason']} (oldest {g['oldest_s'] / 60:.0f} min), e.g. {g['example'][:160]}",
               f"read them: ./dev dlq list topic={g['topic']}{consumer} reason={g['reason']} "
               f"(./dev dlq show {g['ids'][0]}); once the cause is fixed: ./dev dlq redrive --dry-run {ids}")


def check_services(r: Report, env: dict) -> None:
    sched = env.get("SCHEDULER", "127.0.0.1:3550")
    try:
        ok = requests.get(env.get("SCHEDULER_HEALTHZ_URL", "http://127.0.0.1:3551/healthz"), timeout=TIMEOUT).status_code == 200
    except requests.RequestException:
        ok = False
    if ok and port_open(int(sched.rsplit(":", 1)[1])):
        r.ok("scheduler", f"{sched} healthy")
    else:
        r.fail("scheduler", f"{sched} not healthy (reminders cannot be scheduled)",
               f"./dev start scheduler   ({log_hint('scheduler')})")
    pushpin = env.get("PUSHPIN_URL", "http://127.0.0.1:7999")
    publish = env.get("PUSHPIN_PUBLISH_URL", "http://127.0.0.1:5561").rstrip("/") + "/publish/"
    try:
        client = requests.get(f"{pushpin}/.well-known/spin/health", timeout=TIMEOUT).status_code
        pub = requests.post(publish, json={"items": []}, timeout=TIMEOUT).status_code
    except requests.RequestException as e:
        client, pub = None, None
        r.fail("pushpin", f"{pushpin} or {publish} does not answer ({type(e).__name__})",
               f"./dev start pushpin   ({log_hint('pushpin')})")
    if client is not None:
        if client == 200 and pub == 200:
            r.ok("pushpin", f"{pushpin} proxies to the app; publish API {publish} answers")
        elif client == 502:
            r.fail("pushpin", "answers, but cannot reach the app (502)", "./dev start app (or ./dev switch spin)")
        else:
            r.fail("pushpin", f"client port answered {client}, publish API {pub}", f"./dev stop pushpin; ./dev start pushpin   ({log_hint('pushpin')})")
    smtp = int(env.get("SMTP_PORT", "2525"))
    if port_open(smtp):
        r.ok("mailsink", f"smtp://127.0.0.1:{smtp}")
    else:
        r.fail("mailsink", f"nothing on smtp://127.0.0.1:{smtp} (email reminders fail)", "./dev start mailsink")
    host = env.get("HOST_URL", "http://127.0.0.1:3000")
    try:
        up = requests.get(f"{host}/.well-known/spin/health", timeout=TIMEOUT).status_code == 200
    except requests.RequestException:
        up = False
    runtime = (RUN / "runtime").read_text().strip() if (RUN / "runtime").is_file() else "?"
    if up:
        r.ok("app", f"{host} (runtime {runtime})")
    else:
        r.fail("app", f"{host} does not answer", f"./dev start app   ({log_hint('app')})")


def check_metrics(r: Report, env: dict) -> None:
    host = env.get("HOST_URL", "http://127.0.0.1:3000")
    try:
        resp = requests.get(f"{host}/metrics", timeout=10)
    except requests.RequestException as e:
        r.fail("metrics", f"{host}/metrics does not answer ({type(e).__name__})", "./dev start app")
        return
    if resp.status_code != 200:
        r.fail("metrics", f"{host}/metrics answered {resp.status_code}: {resp.text.strip()[:200]}",
               "the metrics component reads PostgreSQL through daprd-metrics: ./dev start daprd-metrics "
               "(and is the database up?)")
        return
    lags = re.findall(r'^event_consumer_lag_seconds\{consumer="([^"]+)",topic="([^"]+)"\} (\S+)$', resp.text, re.MULTILINE)
    behind = [(c, t, float(v)) for c, t, v in lags if float(v) > 30]
    if behind:
        for c, t, v in behind:
            r.fail(f"lag {c}", f"{v:.0f} s behind on {t} (an event it has not recorded)",
                   f"is daprd-{c} running and subscribed (above)? does {c} answer RETRY? ./dev logs daprd-{c}; "
                   f"events it dead-lettered: {t}.dlq")
    else:
        r.ok("lag", ", ".join(f"{c} {float(v):.1f} s" for c, _, v in lags) or "no consumers reported")


def check_prometheus(r: Report, env: dict) -> None:
    url = env.get("PROMETHEUS_URL", f"http://127.0.0.1:{os.environ.get('TODO_PROMETHEUS_PORT', '9090')}")
    try:
        ready = requests.get(f"{url}/-/ready", timeout=TIMEOUT).status_code == 200
    except requests.RequestException:
        ready = False
    if not ready:
        r.fail("prometheus", f"{url} is not ready", f"./dev start prometheus   ({log_hint('prometheus')})")
        return
    targets = requests.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=TIMEOUT).json()["data"]["activeTargets"]
    down = [t for t in targets if t["health"] != "up"]
    if down:
        for t in down:
            r.fail("prometheus", f"target {t['labels'].get('job')} {t['scrapeUrl']} is {t['health']}: {t.get('lastError', '')[:150]}",
                   "start what serves it (above); Prometheus scrapes every 5 s")
    else:
        r.ok("prometheus", f"{url}: {len(targets)} targets up")
    alerts = requests.get(f"{url}/api/v1/alerts", timeout=TIMEOUT).json()["data"]["alerts"]
    for a in alerts:
        labels = {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity")}
        text = f"{a['labels']['alertname']} {labels}: {a['annotations'].get('summary', '')}"
        if a["state"] == "firing":
            r.fail("alert", text, a["annotations"].get("description", "docs/observability.md"))
        else:
            r.warn("alert", f"{text} ({a['state']})")
    if not alerts:
        r.ok("alerts", "none pending or firing")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dlq-window", type=float, default=15.0, metavar="MIN",
                    help="dead letters newer than this many minutes are a FAIL (default 15)")
    args = ap.parse_args()
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    app_list = apps()
    r = Report()
    print(f"doctor: the dev stack in {RUN}" + ("" if env else " (no stack.env: was ./dev up run?)"))
    for check in (
        lambda: check_parts(r, env, app_list),
        lambda: check_secrets(r, secrets),
        lambda: check_sidecars(r, env, secrets, app_list),
        lambda: check_broker(r, env, args.dlq_window),
        lambda: check_database(r, env, secrets, app_list),
        lambda: check_dead_letters(r, env, secrets, app_list),
        lambda: check_services(r, env),
        lambda: check_metrics(r, env),
        lambda: check_prometheus(r, env),
    ):
        try:
            check()
        except Exception as e:  # noqa: BLE001 — report and go on with the next check
            r.fail("doctor", f"a check failed to run: {type(e).__name__}: {str(e)[:300]}",
                   "run it again; if it persists, that part of the stack is in a state this command does not know")
    print(f"doctor: {r.failed} problem(s), {r.warned} warning(s)")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())

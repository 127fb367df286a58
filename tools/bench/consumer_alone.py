#!/usr/bin/env python3
"""Events/s of each consumer component alone in the project's host (or real Spin), with a real sidecar of its
own and the stack's PostgreSQL: CloudEvents POSTed to the component the way daprd delivers them,
with wrk, at 1 and at 32 connections; one event per request, and (`--bulk`, default 0,sub) in
Dapr's bulk envelope of N entries as the consumer's Subscription (`bulkSubscribe`) delivers them:
N = its maxMessagesCount (events/s = requests/s x N; 0 = single deliveries).

For each consumer (`--consumers`, default audit, recurring, notification, realtime) it starts
`todo-host --from spin.toml --component-id <c>` on `--port` (default 3610) and one more daprd
(app-id `bench-<c>`: no subscription is scoped to it, so it joins no consumer group and takes
nothing from the stack's own consumers) on HTTP 3600 / gRPC 3620 / metrics 9190, with the stack's
resources path, tokens and TODO_PG_URL (tools/devstack/dev.sh spawn_sidecar's flags), and points
the component's `<c>_dapr_url` at it. Then wrk POSTs `application/cloudevents+json` deliveries
with `dapr-api-token`, every request a new event id (a wrk Lua script), `--seconds` (default 10)
at each connection count. Each delivery does the component's real work:

- audit: a `task.created` -> one statement (audit row + idempotency row);
- recurring: a `task.completed` of a daily task -> the roll-forward statement (roll row, the next
  task, its outbox events), then the outbox drain publishes them through the bench sidecar to
  Kafka (the stack's own audit/realtime then consume those: extra load, said in the output);
- notification: a `reminder.cancelled` of a new reminder -> state statement + the Jobs API's
  delete on the Scheduler;
- realtime: a `task.updated` for one of 64 users -> feed append (per-user sequence) + one publish
  to Pushpin.

It prints wrk's requests/s and latency per run and checks the effects in PostgreSQL (rows recorded
per request answered). Everything it starts is stopped at the end.

    ~/.cache/todo-events/venv/bin/python tools/bench/consumer_alone.py
    ~/.cache/todo-events/venv/bin/python tools/bench/consumer_alone.py --consumers audit --seconds 20 --json
    ~/.cache/todo-events/venv/bin/python tools/bench/consumer_alone.py --runtime spin --consumers audit --bulk 0

`--runtime spin` serves the component with `spin up --component-id <c>` instead (Spin 4.0.2 from
the cache, the variables from a 0600 file as `./dev` gives them: issue 18 compares the audit
consumer on Spin with the peer's FastAPI service).

Needs the stack up (`./dev up`: PostgreSQL, Kafka, Scheduler, Pushpin), wrk (`apt-get install
wrk`), the host built (`tools/devstack/setup.sh build`), and psycopg (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import CACHE, ROOT, RUN, apps, database_url, read_env  # noqa: E402  (the one reader of the stack's files)
HOST = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "host" / "todo-host"
SPIN = CACHE / "bin" / "spin"
DAPRD = CACHE / "bin" / "daprd"
TOPIC = {"audit": "task-events", "recurring": "task-events", "notification": "reminders", "realtime": "task-updates"}

# The `data` of each delivery; the Lua script fills in %EID% (the event id, also the task or
# reminder id), %USER% and %NOW%.
EVENTS = {
    "audit": {"event_type": "task.created", "event_id": "%EID%", "user_id": "%USER%", "timestamp": "%NOW%",
              "schema_version": "1.0.0", "task_id": "%EID%",
              "task_data": {"title": "bench", "completed": False, "priority": "normal", "tags": []}},
    "recurring": {"event_type": "task.completed", "event_id": "%EID%", "user_id": "%USER%", "timestamp": "%NOW%",
                  "schema_version": "1.0.0", "task_id": "%EID%",
                  "task_data": {"title": "bench", "completed": True, "priority": "normal", "tags": [],
                                "due_date": "2030-03-01T09:00:00Z", "timezone": "UTC", "recurrence": "FREQ=DAILY",
                                "reminders": []}},
    "notification": {"event_type": "reminder.cancelled", "event_id": "%EID%", "user_id": "%USER%", "timestamp": "%NOW%",
                     "schema_version": "1.0.0", "reminder_id": "%EID%", "task_id": "%EID%",
                     "remind_at": "2030-05-02T06:30:00Z", "channel": "in_app", "state": "cancelled"},
    "realtime": {"event_type": "task.updated", "event_id": "%EID%", "user_id": "%USER%", "timestamp": "%NOW%",
                 "schema_version": "1.0.0", "task_id": "%EID%", "sequence": 2,
                 "task": {"id": "%EID%", "title": "bench", "completed": False, "priority": "high"}},
}

LUA = r"""
-- One CloudEvent delivery per request, each with a new event id: <run>-<thread>-<counter>.
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function init(args)
  counter = 0
  template = [==[%TEMPLATE%]==]
  now = os.date("!%Y-%m-%dT%H:%M:%SZ")
end
local function event()
  counter = counter + 1
  local eid = string.format("%RUN8%-%RUN4%-4%RUN3%-8%03x-%012x", tid, counter)
  local user = string.format("%USERPREFIX%%d", (tid * 7919 + counter) % %USERS%)
  return (template:gsub("%%EID%%", eid):gsub("%%USER%%", user):gsub("%%NOW%%", now))
end
function request()
  local bulk = %BULK%
  if bulk == 0 then
    return wrk.format("POST", "%PATH%", {["content-type"] = "application/cloudevents+json",
                                         ["dapr-api-token"] = "%TOKEN%"}, event())
  end
  -- Dapr's bulk envelope (bulkSubscribe): `bulk` entries, each a CloudEvent.
  local entries = {}
  for i = 1, bulk do
    entries[i] = '{"entryId":"' .. i .. '","event":' .. event() ..
                 ',"contentType":"application/cloudevents+json","metadata":{}}'
  end
  local body = '{"id":"bulk","type":"com.dapr.event.sent.bulk","topic":"%TOPIC%","pubsubname":"pubsub",' ..
               '"metadata":{},"entries":[' .. table.concat(entries, ",") .. ']}'
  return wrk.format("POST", "%PATH%", {["content-type"] = "application/json",
                                       ["dapr-api-token"] = "%TOKEN%"}, body)
end
"""


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path, ok=(200, 204)) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"{proc.args[0]} exited ({proc.returncode}); log {log}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code in ok:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} not up after {timeout}s; log {log}")


def stop(proc: subprocess.Popen | None):
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def parse_wrk(out: str) -> dict:
    def num(pattern, conv=float):
        m = re.search(pattern, out, re.M)
        return conv(m.group(1)) if m else None

    def ms(text: str | None):
        if text is None:
            return None
        # wrk's units: us, ms, s, m (minutes), h
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return round(v * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit], 2)

    return {
        "requests": num(r"(\d+) requests in"),
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        # The percentile lines only: "+/- Stdev" columns such as "72.50%" would match too.
        "p50_ms": ms(num(r"^\s+50%\s+(\S+)", str)),
        "p99_ms": ms(num(r"^\s+99%\s+(\S+)", str)),
        "non2xx": num(r"Non-2xx or 3xx responses: (\d+)", int) or 0,
        "errors": num(r"Socket errors: (.*)", str),
    }


def subscription_bulk(consumer: str) -> int:
    """maxMessagesCount of the consumer's bulk Subscription (selfhosted profile); 0 if it has none."""
    import yaml

    for doc in yaml.safe_load_all((ROOT / "contracts/dapr-components/selfhosted/subscriptions.yaml").read_text()):
        if doc and doc.get("kind") == "Subscription" and consumer in (doc.get("scopes") or []):
            bulk = doc["spec"].get("bulkSubscribe") or {}
            return int(bulk.get("maxMessagesCount", 100)) if bulk.get("enabled") else 0
    return 0


def recorded(db, consumer: str, user_prefix: str, since_id: int) -> int:
    like = user_prefix + "%"
    with db.cursor() as cur:
        if consumer == "audit":
            cur.execute("SELECT count(*) FROM audit_log WHERE user_id LIKE %s", (like,))
        elif consumer == "recurring":
            cur.execute("SELECT count(*) FROM tasks WHERE user_id LIKE %s", (like,))
        elif consumer == "notification":
            cur.execute("SELECT count(*) FROM reminder_states WHERE user_id LIKE %s", (like,))
        else:
            cur.execute("SELECT count(*) FROM realtime_feed WHERE user_id LIKE %s", (like,))
        return cur.fetchone()[0]


def bench_one(consumer: str, args, secrets: dict, stack_env: dict, db, tmp: Path) -> list[dict]:
    sched = stack_env.get("SCHEDULER", "127.0.0.1:3550")
    pg_url = database_url()
    var = next(a.var for a in apps() if a.app == consumer)
    dlog, hlog = tmp / f"daprd-bench-{consumer}.log", tmp / f"host-{consumer}.log"
    daprd = host = None
    results = []
    try:
        daprd = subprocess.Popen(
            [str(DAPRD), "--app-id", f"bench-{consumer}", "--app-port", str(args.port), "--app-protocol", "http",
             "--dapr-listen-addresses", "127.0.0.1", "--dapr-http-port", "3600", "--dapr-grpc-port", "3620",
             "--metrics-listen-address", "127.0.0.1", "--metrics-port", "9190", "--enable-metrics=true",
             "--resources-path", str(ROOT / "contracts/dapr-components/selfhosted"),
             "--scheduler-host-address", sched, "--placement-host-address", "", "--log-level", "warn"],
            env={**os.environ, "DAPR_API_TOKEN": secrets["DAPR_API_TOKEN"], "APP_API_TOKEN": secrets["APP_API_TOKEN"],
                 "TODO_PG_URL": pg_url, "TODO_KAFKA_BROKERS": stack_env.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")},
            stdout=dlog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        host_env = {**os.environ,
                    "SPIN_VARIABLE_DAPR_API_TOKEN": secrets["DAPR_API_TOKEN"], "SPIN_VARIABLE_APP_API_TOKEN": secrets["APP_API_TOKEN"],
                    "SPIN_VARIABLE_JWT_SECRET": secrets["JWT_SECRET"], "SPIN_VARIABLE_PUSHPIN_SIG_KEY": secrets["PUSHPIN_SIG_KEY"],
                    "SPIN_VARIABLE_PUSHPIN_PUBLISH_URL": stack_env.get("PUSHPIN_PUBLISH_URL", "http://127.0.0.1:5561"),
                    f"SPIN_VARIABLE_{var.upper()}": "http://127.0.0.1:3600"}
        if args.runtime == "spin":
            # Spin's static provider (a 0600 file), as ./dev runs it: no per-request variable cost.
            varfile = tmp / f"vars-{consumer}.json"
            varfile.touch(mode=0o600)
            varfile.write_text(json.dumps({k.removeprefix("SPIN_VARIABLE_").lower(): v for k, v in host_env.items()
                                           if k.startswith("SPIN_VARIABLE_")}))
            cmd = [str(SPIN), "up", "--from", str(ROOT / "spin.toml"), "--listen", f"127.0.0.1:{args.port}",
                   "--component-id", consumer, "--variable", f"@{varfile}", "--state-dir", str(tmp / "spin-state"),
                   "--log-dir", str(tmp / "spin-logs")]
            host = subprocess.Popen(cmd, env={k: v for k, v in host_env.items() if not k.startswith("SPIN_VARIABLE_")},
                                    stdout=hlog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        else:
            host = subprocess.Popen([str(HOST), "--from", str(ROOT / "spin.toml"), "--listen", f"127.0.0.1:{args.port}",
                                     "--cache", str(CACHE / "host-cache"), "--component-id", consumer],
                                    env=host_env, stdout=hlog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{args.port}/.well-known/spin/health", 120, host, hlog)
        wait_http("http://127.0.0.1:3600/v1.0/healthz", 90, daprd, dlog)
        path = {"audit": "/audit/events", "recurring": "/recurring/events", "notification": "/notification/events",
                "realtime": "/realtime/events"}[consumer]
        sizes = [subscription_bulk(consumer) if b == "sub" else int(b) for b in args.bulk]
        for bulk, conns in [(b, c) for b in sizes for c in args.connections]:
            run = uuid.uuid4().hex
            prefix = f"bench-{consumer}-{run[:8]}-"
            users = 64 if consumer == "realtime" else 1
            envelope = {"specversion": "1.0", "id": "%EID%", "source": "task-api", "type": "com.dapr.event.sent",
                        "datacontenttype": "application/json", "topic": TOPIC[consumer], "pubsubname": "pubsub",
                        "data": EVENTS[consumer]}
            lua = (LUA.replace("%TEMPLATE%", json.dumps(envelope)).replace("%RUN8%", run[:8]).replace("%RUN4%", run[8:12])
                   .replace("%RUN3%", run[12:15]).replace("%USERPREFIX%", prefix).replace("%USERS%", str(users))
                   .replace("%PATH%", path).replace("%TOKEN%", secrets["APP_API_TOKEN"])
                   .replace("%BULK%", str(bulk)).replace("%TOPIC%", TOPIC[consumer]))
            script = tmp / f"{consumer}-{bulk}-{conns}.lua"
            script.write_text(lua)
            # A check that the delivery is accepted (SUCCESS) before the timed run.
            probe = json.loads(json.dumps(envelope).replace("%EID%", str(uuid.uuid4())).replace("%USER%", prefix + "probe")
                               .replace("%NOW%", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            r = requests.post(f"http://127.0.0.1:{args.port}{path}", json=probe, timeout=30,
                              headers={"content-type": "application/cloudevents+json", "dapr-api-token": secrets["APP_API_TOKEN"]})
            if r.status_code != 200 or r.json().get("status") != "SUCCESS":
                sys.exit(f"{consumer}: a delivery answered {r.status_code} {r.text[:300]} (host log {hlog})")
            if bulk:
                def one():
                    return json.loads(json.dumps(probe).replace(probe["id"], str(uuid.uuid4())))
                pair = [one(), one()]
                for ce in pair:
                    ce["data"] = json.loads(json.dumps(ce["data"]).replace(probe["id"], ce["id"]))
                env = {"id": "probe", "type": "com.dapr.event.sent.bulk", "topic": TOPIC[consumer], "pubsubname": "pubsub",
                       "metadata": {}, "entries": [{"entryId": str(i), "event": ce, "contentType": "application/cloudevents+json",
                                                    "metadata": {}} for i, ce in enumerate(pair)]}
                r = requests.post(f"http://127.0.0.1:{args.port}{path}", json=env, timeout=30,
                                  headers={"dapr-api-token": secrets["APP_API_TOKEN"]})
                got = [(e.get("entryId"), e.get("status")) for e in (r.json().get("statuses") or [])] if r.ok else r.text[:300]
                if got != [("0", "SUCCESS"), ("1", "SUCCESS")]:
                    sys.exit(f"{consumer}: a bulk delivery answered {r.status_code} {got} (host log {hlog})")
            before = recorded(db, consumer, prefix, 0)
            threads = 1 if conns == 1 else 2
            p = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{args.seconds}s", "--latency", "--timeout", "30s",
                                "-s", str(script), f"http://127.0.0.1:{args.port}{path}"], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"wrk failed: {p.stderr}")
            fig = parse_wrk(p.stdout)
            time.sleep(1)
            rows = recorded(db, consumer, prefix, 0) - before
            per = max(bulk, 1)
            fig.update(consumer=consumer, connections=conns, bulk=bulk, seconds=args.seconds, recorded=rows,
                       events_per_s=round(fig["rps"] * per, 1), events=fig["requests"] * per)
            results.append(fig)
            how = "single" if bulk == 0 else f"bulk {bulk}"
            print(f"{consumer:12s} {how:9s} {conns:3d} conn: {fig['events_per_s']:8.1f} events/s  "
                  f"request p50 {fig['p50_ms']} ms  p99 {fig['p99_ms']} ms"
                  f"  ({fig['requests']} requests = {fig['events']} events, {rows} recorded, non-2xx {fig['non2xx']}"
                  f"{', socket errors ' + fig['errors'] if fig['errors'] else ''})", flush=True)
    finally:
        stop(host)
        stop(daprd)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--consumers", default="audit,recurring,notification,realtime")
    ap.add_argument("--connections", default="1,32")
    ap.add_argument("--bulk", default="0,sub",
                    help="entries per request, comma-separated; 0 = single deliveries, sub = the consumer's "
                         "Subscription's bulkSubscribe.maxMessagesCount (contracts/dapr-components/selfhosted)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--port", type=int, default=3610)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runtime", choices=["host", "spin"], default="host",
                    help="serve the component with the project's host (default) or real Spin")
    args = ap.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.bulk = [b.strip() for b in args.bulk.split(",")]
    for tool in ((SPIN if args.runtime == "spin" else HOST), DAPRD):
        if not tool.exists():
            sys.exit(f"{tool} is missing (tools/devstack/setup.sh)")
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        sys.exit("wrk is missing: apt-get install -y wrk")
    secrets, stack_env = read_env(RUN / "secrets.env"), read_env(RUN / "stack.env")
    db = psycopg.connect(database_url(),
                         autocommit=True)
    print(f"consumer alone in {'Spin' if args.runtime == 'spin' else 'todo-host'}, own daprd, the stack's PostgreSQL; {os.cpu_count()} cores; "
          f"the rest of the stack keeps running (load {os.getloadavg()[0]:.2f})")
    out = []
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
        for c in args.consumers.split(","):
            out += bench_one(c.strip(), args, secrets, stack_env, db, Path(tmp))
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

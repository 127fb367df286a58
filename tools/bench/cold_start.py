#!/usr/bin/env python3
"""Cold start of each component: the time from starting the runtime (`spin up`, or the project's
host) to the first 200 on each component's route, with the compile cache warm and cold.

For each runtime (`--runtimes`, default spin,host) and cache state it starts the whole app from
spin.toml on `--port` (default 3710) beside the running stack (the same Spin variables as the
stack's app, so the components reach the stack's sidecars), then polls every component's route
round-robin every 10 ms until each has answered as it should:

| component | request | answer |
|---|---|---|
| web | `GET /` | 200 |
| task-api | `GET /api/tasks` (a JWT) | 200 |
| audit | `GET /api/audit` (a JWT) | 200 |
| notification | `GET /api/reminders` (a JWT) | 200 |
| realtime | `POST /realtime/tickets` (a JWT) | 200 |
| recurring | `POST /recurring/events` (app token, a `task.created` delivery: no effect) | 200 |
| metrics | `GET /metrics` (if spin.toml has it) | 200 |

With `--per-component`, each component is also started alone (`--component-id`) with a cold
cache, so the time to its first 200 is its own compile and start.

Cache states: Spin `warm` (its wasmtime cache as it is; one start first fills it) and `cold`
(`--disable-cache`: every component compiled at start); the host `warm` (`--cache` the stack's
host-cache) and `cold` (an empty cache folder). Prints, per run, the seconds to the health check
and to each component's first 200 (a start that fills the cache comes first, not counted);
`--repeat N` (default 2) runs each N times.

    ./dev up && ~/.cache/todo-events/venv/bin/python tools/bench/cold_start.py
    ~/.cache/todo-events/venv/bin/python tools/bench/cold_start.py --per-component --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import apps as stackinfo_apps, CACHE, ROOT, RUN, read_env  # noqa: E402  (the one reader of the stack's files)
HOST = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "host" / "todo-host"


def spin_bin() -> str:
    found = shutil.which("spin") or str(CACHE / "bin" / "spin")
    if not Path(found).exists():
        sys.exit("no Spin CLI (spin on PATH, or tools/devstack/setup.sh unpacks it into the cache)")
    return found


def app_env(secrets: dict, stack_env: dict) -> dict:
    env = {"SPIN_VARIABLE_DAPR_API_TOKEN": secrets["DAPR_API_TOKEN"], "SPIN_VARIABLE_APP_API_TOKEN": secrets["APP_API_TOKEN"],
           "SPIN_VARIABLE_JWT_SECRET": secrets["JWT_SECRET"], "SPIN_VARIABLE_PUSHPIN_SIG_KEY": secrets["PUSHPIN_SIG_KEY"],
           "SPIN_VARIABLE_PUSHPIN_PUBLISH_URL": stack_env.get("PUSHPIN_PUBLISH_URL", "http://127.0.0.1:5561")}
    for a in stackinfo_apps():
        env[f"SPIN_VARIABLE_{a.var.upper()}"] = f"http://127.0.0.1:{a.http}"
    return env


def probes(secrets: dict) -> dict:
    token = jwt.encode({"sub": f"cold-{uuid.uuid4()}", "exp": int(time.time()) + 3600}, secrets["JWT_SECRET"], algorithm="HS256")
    bearer = {"Authorization": f"Bearer {token}"}
    delivery = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "task-api", "type": "com.dapr.event.sent",
                "datacontenttype": "application/json", "topic": "task-events", "pubsubname": "pubsub",
                "data": {"event_type": "task.created", "event_id": str(uuid.uuid4()), "user_id": "cold-start",
                         "timestamp": "2030-01-01T00:00:00Z", "schema_version": "1.0.0", "task_id": str(uuid.uuid4()),
                         "task_data": {"title": "cold", "completed": False, "priority": "normal", "tags": []}}}
    p = {
        "web": ("GET", "/", {}, None),
        "task-api": ("GET", "/api/tasks", bearer, None),
        "audit": ("GET", "/api/audit", bearer, None),
        "notification": ("GET", "/api/reminders", bearer, None),
        "realtime": ("POST", "/realtime/tickets", bearer, None),
        "recurring": ("POST", "/recurring/events", {"dapr-api-token": secrets["APP_API_TOKEN"],
                                                    "content-type": "application/cloudevents+json"}, json.dumps(delivery)),
    }
    if "[component.metrics]" in (ROOT / "spin.toml").read_text():
        p["metrics"] = ("GET", "/metrics", {}, None)
    return p


def one_start(runtime: str, cache: str, port: int, env: dict, secrets: dict, timeout: float, only: str | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="todo-cold-"))
    if runtime == "spin":
        cmd = [spin_bin(), "up", "--from", str(ROOT / "spin.toml"), "--listen", f"127.0.0.1:{port}",
               "--log-dir", str(tmp / "logs"), "--state-dir", str(tmp / "state")]
        if cache == "cold":
            cmd.append("--disable-cache")
    else:
        cmd = [str(HOST), "--from", str(ROOT / "spin.toml"), "--listen", f"127.0.0.1:{port}",
               "--cache", str(CACHE / "host-cache" if cache == "warm" else tmp / "host-cache")]
    want = probes(secrets)
    if only:
        cmd += ["--component-id", only]
        want = {only: want[only]}
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    first: dict[str, float] = {}
    health = None
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=(tmp / "out.log").open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while len(first) < len(want) and time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                sys.exit(f"{runtime} exited ({proc.returncode}): {(tmp / 'out.log').read_text()[-2000:]}")
            if health is None:
                try:
                    if http.get(f"{base}/.well-known/spin/health", timeout=1).status_code == 200:
                        health = time.monotonic() - t0
                except requests.RequestException:
                    time.sleep(0.01)
                    continue
            for name, (method, path, headers, body) in want.items():
                if name in first:
                    continue
                try:
                    r = http.request(method, base + path, headers=headers, data=body, timeout=5)
                    if r.status_code == 200:
                        first[name] = time.monotonic() - t0
                except requests.RequestException:
                    pass
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"runtime": runtime, "cache": cache, "only": only, "health_s": None if health is None else round(health, 3),
            **{name: (round(first[name], 3) if name in first else None) for name in want}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtimes", default="spin,host")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--port", type=int, default=3710)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--per-component", action="store_true",
                    help="also start each component alone (--component-id) with a cold cache: its own compile time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    secrets, stack_env = read_env(RUN / "secrets.env"), read_env(RUN / "stack.env")
    env = app_env(secrets, stack_env)
    print(f"cold start beside the running stack; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    out = []
    for runtime in args.runtimes.split(","):
        one_start(runtime, "warm", args.port, env, secrets, args.timeout)  # fills the cache: not counted
        for cache in ("warm", "cold"):
            for _ in range(args.repeat):
                fig = one_start(runtime, cache, args.port, env, secrets, args.timeout)
                out.append(fig)
                comps = "  ".join(f"{k} {v}s" if v is not None else f"{k} -" for k, v in fig.items()
                                  if k not in ("runtime", "cache", "health_s", "only"))
                print(f"{runtime:4s} {cache:4s}: health {fig['health_s']}s  first 200: {comps}", flush=True)
        if args.per_component:
            for name in probes(secrets):
                fig = one_start(runtime, "cold", args.port, env, secrets, args.timeout, only=name)
                out.append(fig)
                print(f"{runtime:4s} cold, --component-id {name}: first 200 after {fig[name]}s", flush=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

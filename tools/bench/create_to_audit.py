#!/usr/bin/env python3
"""Time from a REST create to its audit row, on the running dev stack.

Creates `--count` tasks (default 100) as a fresh user through `POST /api/tasks`, one at a time,
and for each measures the time from just before the create request to the first
`GET /api/audit?task_id=<id>` answer that holds its `task.created` row (polled every
`--poll-ms`, default 10 ms, so each figure is late by at most about one poll interval plus one
audit request). That path is: task write + outbox row (one SQL statement through daprd) ->
publish through the task-api sidecar to Kafka -> delivery by the audit sidecar -> audit insert
(one SQL statement) -> visible to the audit query. Prints count, median, p90, worst (and min,
mean), in milliseconds.

Run it with the stack up (`./dev up`), from the repository root:

    ~/.cache/todo-events/venv/bin/python tools/bench/create_to_audit.py            # 100 creates
    ~/.cache/todo-events/venv/bin/python tools/bench/create_to_audit.py --count 300 --json

It reads the host URL from ~/.cache/todo-events/run/stack.env and the JWT secret from
secrets.env there (TODO_EVENTS_RUN overrides the directory), and needs `requests` and `PyJWT`
(tests/requirements.txt). The tasks it creates are left in place, owned by a user named
`bench-<uuid>` that nothing else uses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import RUN, read_env  # noqa: E402  (the one reader of the stack's files)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def measure_one(http: requests.Session, base: str, i: int, poll_s: float, timeout_s: float) -> float:
    """Seconds from the create request to its audit row being visible."""
    t0 = time.perf_counter()
    r = http.post(f"{base}/api/tasks", json={"title": f"bench task {i}"}, timeout=30)
    if r.status_code != 201:
        raise RuntimeError(f"create answered {r.status_code}: {r.text[:300]}")
    task_id = r.json()["id"]
    while True:
        a = http.get(f"{base}/api/audit", params={"task_id": task_id}, timeout=30)
        if a.status_code != 200:
            raise RuntimeError(f"audit answered {a.status_code}: {a.text[:300]}")
        if any(row["event_type"] == "task.created" for row in a.json()["items"]):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout_s:
            raise RuntimeError(f"no audit row for task {task_id} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100, help="tasks to create (default 100)")
    ap.add_argument("--poll-ms", type=float, default=10.0, help="audit poll interval in ms (default 10)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one audit row (default 60)")
    ap.add_argument("--warmup", type=int, default=3, help="creates before measuring, not counted (default 3)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = ap.parse_args()

    base = read_env(RUN / "stack.env")["HOST_URL"].rstrip("/")
    secret = read_env(RUN / "secrets.env")["JWT_SECRET"]
    user = f"bench-{uuid.uuid4()}"
    token = jwt.encode({"sub": user, "exp": int(time.time()) + 86400}, secret, algorithm="HS256")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"

    poll = args.poll_ms / 1000
    for i in range(args.warmup):
        measure_one(http, base, -1 - i, poll, args.timeout)
    samples = []
    started = time.perf_counter()
    for i in range(args.count):
        samples.append(measure_one(http, base, i, poll, args.timeout) * 1000)
    wall = time.perf_counter() - started

    s = sorted(samples)
    figures = {
        "count": len(s),
        "median_ms": round(statistics.median(s), 1),
        "p90_ms": round(percentile(s, 90), 1),
        "worst_ms": round(s[-1], 1),
        "min_ms": round(s[0], 1),
        "mean_ms": round(statistics.fmean(s), 1),
        "poll_ms": args.poll_ms,
        "wall_s": round(wall, 1),
        "user": user,
    }
    print(f"create -> audit row, {figures['count']} tasks (sequential, poll every {args.poll_ms:g} ms):")
    print(f"  median {figures['median_ms']} ms   p90 {figures['p90_ms']} ms   worst {figures['worst_ms']} ms"
          f"   (min {figures['min_ms']} ms, mean {figures['mean_ms']} ms, {figures['wall_s']} s in all)")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

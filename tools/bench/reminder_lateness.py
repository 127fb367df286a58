#!/usr/bin/env python3
"""Reminder lateness on the running dev stack: fire time minus `remind_at`.

Creates `--count` tasks (default 50) as a fresh user, each with one in-app reminder due between
`--lead` and `--lead + --spread` seconds from now (default 5 to 15 s, spread evenly), so the
Dapr Scheduler fires them one after another rather than all at once. The path measured: the
task API's `reminder.scheduled` -> Kafka -> the notification service schedules a Dapr job -> the
Scheduler calls `POST /job/<name>` at the due time -> the delivery is recorded (`sent_at`). The
fire time is `sent_at` as the notification service recorded it (PostgreSQL's clock, the same
machine). Prints count, p50, p99, max and min in milliseconds; `--json` for one JSON line.

    ./dev up && ~/.cache/todo-events/venv/bin/python tools/bench/reminder_lateness.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import RUN, read_env  # noqa: E402  (the one reader of the stack's files)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--lead", type=float, default=5.0, help="seconds until the first reminder")
    ap.add_argument("--spread", type=float, default=10.0, help="seconds over which they are spread")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env, secrets = read_env(RUN / "stack.env"), read_env(RUN / "secrets.env")
    base = env["HOST_URL"]
    user = f"bench-{uuid.uuid4()}"
    now = int(time.time())
    token = jwt.encode({"sub": user, "iat": now, "exp": now + 3600}, secrets["JWT_SECRET"], algorithm="HS256")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    start = datetime.now(timezone.utc) + timedelta(seconds=args.lead)
    wanted = {}
    for i in range(args.count):
        at = start + timedelta(seconds=args.spread * i / max(1, args.count - 1))
        at_text = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        r = http.post(f"{base}/api/tasks", json={"title": f"bench {i}", "reminders": [{"remind_at": at_text}]}, timeout=30)
        r.raise_for_status()
        wanted[r.json()["reminders"][0]["id"]] = at
    if datetime.now(timezone.utc) > start:
        print("warning: creating the tasks took longer than --lead; the first reminders were late on arrival", file=sys.stderr)
    deadline = time.monotonic() + args.lead + args.spread + 60
    done: dict[str, float] = {}
    while len(done) < len(wanted) and time.monotonic() < deadline:
        time.sleep(1)
        params = {"state": "sent", "limit": 100}
        while True:
            page = http.get(f"{base}/api/reminders", params=params, timeout=30).json()
            for item in page["items"]:
                if item["reminder_id"] in wanted and item["sent_at"]:
                    done[item["reminder_id"]] = (instant(item["sent_at"]) - wanted[item["reminder_id"]]).total_seconds() * 1000
            if not page["next_cursor"]:
                break
            params = {"state": "sent", "limit": 100, "cursor": page["next_cursor"]}
    if len(done) < len(wanted):
        sys.exit(f"only {len(done)} of {len(wanted)} reminders fired within the deadline")
    late = sorted(done.values())
    figures = {"count": len(late), "p50_ms": round(percentile(late, 50), 1), "p99_ms": round(percentile(late, 99), 1),
               "max_ms": round(late[-1], 1), "min_ms": round(late[0], 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"reminder lateness (sent_at - remind_at) over {figures['count']} reminders: "
              f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms, min {figures['min_ms']} ms")


if __name__ == "__main__":
    main()

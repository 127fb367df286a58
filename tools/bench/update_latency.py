#!/usr/bin/env python3
"""Task write -> update received by the browser, on the running dev stack, with many SSE
connections held open by Pushpin.

For each connection count (default 1, 100, 1000) a fresh user opens that many SSE streams
through Pushpin (`GET /realtime/events?ticket=...`, each with its own ticket), waits for every
stream's `hello`, then creates `--updates` tasks (default 30) through the REST API, one every
`--gap` seconds. Each stream records when the `task.created` update of each task arrives. The
figure is arrival minus the moment just before the create request, over every (stream, update)
pair: p50, p99, max. The path: the task write and its outbox row -> publish through the task-api
sidecar -> Kafka -> the realtime sidecar delivers it to the realtime component -> feed append
(PostgreSQL) -> one publish to Pushpin -> Pushpin fans it out to the streams.

It also reads the realtime sidecar's Prometheus counters `dapr_component_pubsub_ingress_count`
(single deliveries) and `dapr_component_pubsub_ingress_bulk_count` (bulk deliveries, the
subscription's `bulkSubscribe`) for topic task-updates before and after: requests to the
component per update, at most 1 whatever the number of connections (the component never runs
per connection; a bulk request may carry several updates).

    ./dev up && ~/.cache/todo-events/venv/bin/python tools/bench/update_latency.py
    ~/.cache/todo-events/venv/bin/python tools/bench/update_latency.py --connections 1,100 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import app as stackinfo_app, RUN, read_env  # noqa: E402  (the one reader of the stack's files)


def percentile(values: list[float], p: float) -> float:
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def metrics_port(app: str) -> int:
    return stackinfo_app(app).metrics


async def deliveries(http: aiohttp.ClientSession, port: int) -> float:
    """The realtime sidecar's requests to the component for task-updates so far (single and bulk)."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(("dapr_component_pubsub_ingress_count{", "dapr_component_pubsub_ingress_bulk_count{"))
                and 'topic="task-updates"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def stream(http, url: str, ready: asyncio.Event, got: dict, wanted: dict, done: asyncio.Event):
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
        if r.status != 200:
            raise RuntimeError(f"stream answered {r.status}")
        data = None
        async for raw in r.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: hello"):
                ready.set()
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                ev = json.loads(data)
                if ev.get("event_type") == "task.created":
                    # Recorded before the writer knows the id: the update can beat the response.
                    got.setdefault(ev["task_id"], time.monotonic())
                    if wanted["complete"] and wanted["ids"] <= got.keys():
                        done.set()
                        return
                data = None


async def run(n: int, args, env, secrets) -> dict:
    user = f"bench-{uuid.uuid4()}"
    now = int(time.time())
    token = jwt.encode({"sub": user, "iat": now, "exp": now + 3600}, secrets["JWT_SECRET"], algorithm="HS256")
    auth = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tickets = []
        for _ in range(n):
            async with http.post(f"{env['PUSHPIN_URL']}/realtime/tickets", headers=auth) as r:
                tickets.append((await r.json())["ticket"])
        wanted = {"ids": set(), "complete": False}
        per_stream = [({}, asyncio.Event(), asyncio.Event()) for _ in range(n)]
        # Streams open in batches of 50 (browsers do not all connect in the same millisecond).
        tasks = []
        for i, (t, (got, ready, done)) in enumerate(zip(tickets, per_stream)):
            url = f"{env['PUSHPIN_URL']}/realtime/events?ticket={t}"
            tasks.append(asyncio.create_task(stream(http, url, ready, got, wanted, done)))
            if i % 50 == 49:
                await asyncio.wait_for(asyncio.gather(*(r.wait() for _, r, _ in per_stream[: i + 1])), 120)
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for _, ready, _ in per_stream)), 120)
        port = metrics_port("realtime")
        before = await deliveries(http, port)
        sent: dict[str, float] = {}
        ids = []
        for i in range(args.updates):
            t0 = time.monotonic()
            async with http.post(f"{env['HOST_URL']}/api/tasks", json={"title": f"bench {i}"}, headers=auth) as r:
                tid = (await r.json())["id"]
            sent[tid] = t0
            ids.append(tid)
            wanted["ids"].add(tid)
            await asyncio.sleep(args.gap)
        wanted["complete"] = True
        for got, _, done in per_stream:
            if wanted["ids"] <= got.keys():
                done.set()
        try:
            await asyncio.wait_for(asyncio.gather(*(done.wait() for _, _, done in per_stream)), 60)
        except asyncio.TimeoutError:
            missing = sum(len(wanted["ids"] - got.keys()) for got, _, _ in per_stream)
            sys.exit(f"{n} streams: {missing} updates never arrived within 60 s")
        await asyncio.sleep(1)
        after = await deliveries(http, port)
        for t in tasks:
            t.cancel()
    late = sorted((got[tid] - sent[tid]) * 1000 for got, _, _ in per_stream for tid in ids)
    return {
        "connections": n, "updates": args.updates, "samples": len(late),
        "p50_ms": round(percentile(late, 50), 1), "p99_ms": round(percentile(late, 99), 1),
        "max_ms": round(late[-1], 1), "deliveries_per_update": round((after - before) / args.updates, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", default="1,100,1000")
    ap.add_argument("--updates", type=int, default=30)
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between writes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env, secrets = read_env(RUN / "stack.env"), read_env(RUN / "secrets.env")
    for n in [int(c) for c in args.connections.split(",")]:
        fig = asyncio.run(run(n, args, env, secrets))
        if args.json:
            print(json.dumps(fig))
        else:
            print(f"{fig['connections']:>5} SSE connections: write -> browser p50 {fig['p50_ms']} ms, "
                  f"p99 {fig['p99_ms']} ms, max {fig['max_ms']} ms over {fig['samples']} deliveries; "
                  f"component deliveries per update: {fig['deliveries_per_update']}")


if __name__ == "__main__":
    main()

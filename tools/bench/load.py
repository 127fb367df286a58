#!/usr/bin/env python3
"""Sustained load on the running dev stack: task writes -> audit rows, for a fixed time at a fixed
rate, or at the highest rate the stack holds.

Open loop: `POST /api/tasks` at `--rate` writes/s (a request starts every 1/rate s whatever the
others do, at most `--inflight` at once, default 128) for `--seconds` (default 60), spread over
`--users` users (default 50). Every create makes two events (`task.created` on `task-events`,
consumed by audit and recurring, and on `task-updates`, consumed by realtime). Afterwards it reads
PostgreSQL: each create's audit row (`audit_log.recorded_at`, written by the audit consumer's
statement) minus the moment just before its request is the create -> audit latency (p50, p99,
max; same machine, same clock); events/s end to end are the events the consumers recorded (audit
rows + feed rows) per second of the run; "held" means the achieved write rate was within 5 % of
the target, every event was recorded, the audit consumer was caught up within 1 s of the last
write, and the latency did not grow during the run (median of the last third of the writes at
most twice the first third's + 50 ms).

Each rate also prints the median of each hop of a create's path, read from the rows it left:
write (the event's timestamp to the write statement), publish (to the mark after the publishes),
deliver (to the audit component's request start: Kafka, audit's sidecar, its bulk wait, Spin),
audit (to the audit statement).

`--find-max` first steps the rate up (`--steps`, default 10,20,30,40,60,100,200,300,500, each
`--step-seconds` 15 s) and stops at the first rate the stack does not hold; then it runs
`--seconds` at the highest rate it held.

    ./dev up && ~/.cache/todo-events/venv/bin/python tools/bench/load.py --rate 100 --seconds 60
    ~/.cache/todo-events/venv/bin/python tools/bench/load.py --find-max --json

`--cpu` also prints the CPU time each part of the stack used per write during each rate (from
the start of the writes until every event was recorded), after the stack's idle CPU per part
over `--idle-seconds`: every process of each part's session (`./dev` starts each part with setsid
and keeps its PID in run/pids) and its descendants, read from /proc (user + system), and this
load generator's own. Issue 18's profile: Spin, Kafka, each sidecar,
PostgreSQL, Pushpin, Prometheus, the Scheduler.

    ~/.cache/todo-events/venv/bin/python tools/bench/load.py --rate 100 --seconds 30 --cpu

With replicas (`./dev up --replicas 2`, docs/replicas.md) `--through-pushpin` sends the writes
through Pushpin and the balancer, so every task-api replica takes them; the consumers' replicas
share their partitions. Issue 20 compares 1 and 2 replicas of everything this way.

Needs aiohttp, PyJWT and psycopg (tests/requirements.txt). The tasks are left in place, owned by
users `load-<run>-<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import jwt
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
from stackinfo import RUN, database_url, read_env  # noqa: E402  (the one reader of the stack's files)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


async def drive(base: str, tokens: list[str], rate: float, seconds: float, inflight: int, run: str):
    """Open-loop creates; answers [(t0, task_id or None, status)]."""
    results: list[tuple[float, str | None, int]] = []
    sem = asyncio.Semaphore(inflight)
    conn = aiohttp.TCPConnector(limit=inflight)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def one(i: int):
            async with sem:
                t0 = time.time()
                try:
                    async with http.post(f"{base}/api/tasks", json={"title": f"load {run} {i}"},
                                         headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"}) as r:
                        body = await r.json() if r.status == 201 else None
                        results.append((t0, body["id"] if body else None, r.status))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    results.append((t0, None, 0))

        tasks = []
        start = time.monotonic()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return results, time.monotonic() - start


# Where a create's time goes, from the rows its path leaves (medians over the run's task.created
# events): `write` the event's timestamp (taken by the task API) to the write statement's start
# (its outbox row's created_at); `publish` that to the mark after its publishes (published_at);
# `deliver` the mark to the audit component's request start (processed_events.received_at:
# Kafka, audit's sidecar, its bulk wait, Spin); `audit` that to the audit statement's start
# (audit_log.recorded_at). Every instant is a database or component clock on this machine.
HOPS = ("write", "publish", "deliver", "audit")
HOPS_SQL = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.created_at - (o.payload->>'timestamp')::timestamptz)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.published_at - o.created_at)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.received_at - o.published_at)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.recorded_at - p.received_at))
FROM outbox o
JOIN processed_events p ON p.consumer = 'audit' AND p.event_id = (o.payload->>'event_id')::uuid
JOIN audit_log a ON a.event_id = p.event_id
WHERE o.task_id = ANY(%s::uuid[]) AND o.topic = 'task-events' AND o.payload->>'event_type' = 'task.created'
"""


def measure(db, results, t_start: float, t_end: float, run: str, wait_s: float = 60.0) -> dict:
    ids = [tid for _, tid, _ in results if tid]
    t0_of = {tid: t0 for t0, tid, _ in results if tid}
    deadline = time.monotonic() + wait_s
    caught_up_at = None
    while True:
        with db.cursor() as cur:
            cur.execute("SELECT task_id::text, extract(epoch FROM recorded_at)::float8 FROM audit_log "
                        "WHERE task_id = ANY(%s::uuid[]) AND event_type = 'task.created'", (ids,))
            audit = dict(cur.fetchall())
            cur.execute("SELECT count(*), extract(epoch FROM max(created_at))::float8 FROM realtime_feed WHERE user_id LIKE %s",
                        (f"load-{run}-%",))
            feed, feed_last = cur.fetchone()
        if len(audit) >= len(ids) and caught_up_at is None:
            caught_up_at = max(audit.values()) if audit else t_end
        if caught_up_at is not None and feed >= len(ids):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM tasks WHERE user_id LIKE %s", (f"load-{run}-%",))
        stored = cur.fetchone()[0]
        cur.execute(HOPS_SQL, (ids,))
        hops = dict(zip(HOPS, cur.fetchone()))
    order = sorted((t0_of[t], (audit[t] - t0_of[t]) * 1000) for t in ids if t in audit)
    lat = [l for _, l in order]
    third = max(1, len(lat) // 3)
    first_p50 = percentile(lat[:third], 50) if lat else None
    last_p50 = percentile(lat[-third:], 50) if lat else None
    ok = len(ids)
    span = max(t_end - t_start, 1e-9)
    lag_end = (caught_up_at - t_end) if caught_up_at else None
    events = len(audit) + feed
    done_at = max([x for x in (caught_up_at, feed_last) if x] or [time.time()])
    return {
        "writes": len(results), "created": ok, "stored": stored, "failed": len(results) - ok,
        "write_rate": round(ok / span, 1),
        "audited": len(audit), "fed": feed,
        "events_per_s": round(events / (done_at - t_start), 1),
        "audit_rows_per_s": round(len(audit) / ((caught_up_at or time.time()) - t_start), 1),
        "p50_first_third_ms": None if first_p50 is None else round(first_p50, 1),
        "p50_last_third_ms": None if last_p50 is None else round(last_p50, 1),
        "p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "p99_ms": round(percentile(lat, 99), 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "audit_lag_at_end_s": None if lag_end is None else round(lag_end, 2),
        "hops_p50_ms": {k: None if v is None else round(v * 1000, 1) for k, v in hops.items()},
    }


def part_cpu() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each running part of the stack: its recorded
    process (run/pids/<part>.pid), every process of that session (`./dev` starts each part with
    setsid) and every descendant (PostgreSQL's postmaster starts a session of its own)."""
    tick = os.sysconf("SC_CLK_TCK")
    parts = {}
    for pidfile in (RUN / "pids").glob("*.pid"):
        try:
            parts[int(pidfile.read_text().strip())] = pidfile.stem
        except ValueError:
            continue
    procs = {}  # pid -> (ppid, session, cpu seconds)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # Fields after the command's closing parenthesis: state, ppid, pgrp, session, ...,
            # utime and stime (fields 14 and 15 of proc(5)).
            f = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(proc.name)] = (int(f[1]), int(f[3]), (int(f[11]) + int(f[12])) / tick)
    used = dict.fromkeys(parts.values(), 0.0)
    for pid, (ppid, session, cpu) in procs.items():
        part, p, hops = parts.get(session), pid, 0
        while part is None and p in procs and hops < 64:  # the nearest recorded ancestor
            part, p, hops = parts.get(p), procs[p][0], hops + 1
        if part:
            used[part] += cpu
    return used


def print_cpu(before: dict, after: dict, self_s: float, writes: int) -> dict:
    """CPU milliseconds per write of each part (and the total), largest first."""
    per = {p: (after.get(p, 0.0) - before.get(p, 0.0)) * 1000 / max(writes, 1) for p in after}
    sidecars = sum(v for p, v in per.items() if p.startswith("daprd-"))
    total = sum(per.values())
    print(f"  CPU per write ({writes} writes): stack total {total:.2f} ms, of which the {sum(1 for p in per if p.startswith('daprd-'))} "
          f"sidecars {sidecars:.2f} ms; this load generator {self_s * 1000 / max(writes, 1):.2f} ms", flush=True)
    for p, v in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"    {p:22} {v:7.2f} ms", flush=True)
    return {"total_ms": round(total, 2), "sidecars_ms": round(sidecars, 2),
            "load_generator_ms": round(self_s * 1000 / max(writes, 1), 2),
            "parts_ms": {p: round(v, 2) for p, v in per.items()}}


def run_rate(base, tokens, db, rate, seconds, inflight, cpu=False) -> dict:
    run = uuid.uuid4().hex[:8]
    users = [f"load-{run}-{i}" for i in range(len(tokens))]
    secret = tokens[0][1]
    toks = [jwt.encode({"sub": u, "exp": int(time.time()) + 7200}, secret, algorithm="HS256") for u in users]
    cpu_before, self_before = (part_cpu(), sum(os.times()[:2])) if cpu else ({}, 0.0)
    t_start = time.time()
    results, _ = asyncio.run(drive(base, toks, rate, seconds, inflight, run))
    t_end = time.time()
    fig = measure(db, results, t_start, t_end, run)
    cpu_after, self_s = (part_cpu(), sum(os.times()[:2]) - self_before) if cpu else ({}, 0.0)
    fig.update(rate=rate, seconds=seconds)
    # Held: every write made at the rate, every event recorded, and the latency did not grow over
    # the run (the last third's median within 2x + 50 ms of the first third's): the consumers kept up.
    fig["held"] = (fig["write_rate"] >= 0.95 * rate and fig["failed"] == 0 and fig["fed"] >= fig["created"]
                   and fig["audit_lag_at_end_s"] is not None and fig["audit_lag_at_end_s"] < 1
                   and fig["p50_last_third_ms"] <= 2 * fig["p50_first_third_ms"] + 50)
    print(f"rate {rate:5.0f}/s for {seconds:.0f}s: {fig['created']}/{fig['writes']} created ({fig['write_rate']}/s), "
          f"audited {fig['audited']}, fed {fig['fed']}, {fig['events_per_s']} events/s recorded, "
          f"create->audit p50 {fig['p50_ms']} ms p99 {fig['p99_ms']} ms max {fig['max_ms']} ms "
          f"(p50 first third {fig['p50_first_third_ms']} ms, last third {fig['p50_last_third_ms']} ms), "
          f"audit caught up {fig['audit_lag_at_end_s']} s after the last write -> {'held' if fig['held'] else 'NOT held'}",
          flush=True)
    hops = fig["hops_p50_ms"]
    print("  p50 per hop: " + ", ".join(f"{k} {'-' if v is None else v} ms" for k, v in hops.items()),
          flush=True)
    if cpu:
        fig["cpu_per_write"] = print_cpu(cpu_before, cpu_after, self_s, fig["created"])
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--inflight", type=int, default=128)
    ap.add_argument("--find-max", action="store_true")
    ap.add_argument("--steps", default="10,20,30,40,60,100,200,300,500")
    ap.add_argument("--step-seconds", type=float, default=15)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="CPU time per write of each part of the stack")
    ap.add_argument("--idle-seconds", type=float, default=20, help="with --cpu: the idle measurement first")
    ap.add_argument("--through-pushpin", action="store_true",
                    help="write through Pushpin (and the balancer, with replicas: every task-api replica "
                         "takes writes) instead of straight to the first app process")
    args = ap.parse_args()
    env, secrets = read_env(RUN / "stack.env"), read_env(RUN / "secrets.env")
    base = env["PUSHPIN_URL" if args.through_pushpin else "HOST_URL"].rstrip("/")
    db = psycopg.connect(database_url(),
                         autocommit=True)
    tokens = [(i, secrets["JWT_SECRET"]) for i in range(args.users)]
    runtime = (RUN / "runtime").read_text().strip() if (RUN / "runtime").exists() else "?"
    print(f"load on the dev stack ({runtime}), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"{args.users} users, open loop, at most {args.inflight} in flight")
    out = []
    if args.cpu:
        # What the stack burns with no writes at all: at a fixed write rate this idle share is part
        # of every write's CPU (at 100 writes/s, 10 % of a core idle is 1 ms per write).
        before, t0 = part_cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        after, span = part_cpu(), time.monotonic() - t0
        idle = {p: (after[p] - before.get(p, 0.0)) * 100 / span for p in after}
        print(f"  idle CPU over {span:.0f} s, % of one core: total {sum(idle.values()):.1f}; " + ", ".join(
            f"{p} {v:.1f}" for p, v in sorted(idle.items(), key=lambda kv: -kv[1]) if v >= 0.05), flush=True)
        out.append({"idle_percent_of_a_core": {p: round(v, 2) for p, v in idle.items()}})
    rate = args.rate
    if args.find_max:
        best = None
        for r in [float(x) for x in args.steps.split(",")]:
            fig = run_rate(base, tokens, db, r, args.step_seconds, args.inflight, args.cpu)
            out.append(fig)
            if not fig["held"]:
                break
            best = r
            time.sleep(5)
        if best is None:
            print("the stack held none of the step rates")
            rate = None
        else:
            rate = best
            time.sleep(5)
    if rate:
        fig = run_rate(base, tokens, db, rate, args.seconds, args.inflight, args.cpu)
        fig["sustained_run"] = True
        out.append(fig)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

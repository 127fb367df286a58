"""Rebalances under load (the replica stage of `./dev test`): the fault stage's seeded workload
(tests/faults/test_faults.py: `TODO_FAULT_USERS` users, `TODO_FAULT_RATE` writes/s, at least
`TODO_FAULT_MIN_WRITES`, recurring completions, reminders due during the run) with reminders moved
or cancelled soon after being set, written through Pushpin to both task-api replicas, while each
consumer app-id's group changes in turn:

- `add`: a third replica (`./dev replica add APP`): partitions move to it;
- `SIGTERM`: that replica stopped gracefully (`./dev stop daprd-APP@3`): it finishes what is in
  flight and leaves the group;
- `kill -9 daprd`: replica 2's sidecar killed and started again (its partitions wait for the
  group's session timeout);
- and once, `kill -9 app@2`: replica 2's app process (every app-id's replica 2) killed and started.

Afterwards the fault stage's exact checks: every committed write's events published; one effect
per event per consumer; per task, effects in event order where order matters (a reminder moved
and then cancelled never fires, one moved fires at its new time; each user's feed has sequences
1..n); every due reminder delivered once; nothing dead-lettered; the lag back to zero after each
action. The table: action, partitions moved (owners before and after), events, redelivered (the
events audit and realtime were delivered again after applying them, from their own statements'
answers: absorbed by the inbox), lost, duplicated, out of order, and the seconds from the end of
the action until every event written before it was published and applied by every consumer.

    ~/.cache/todo-events/venv/bin/python -m pytest -q -s tests/replicas/test_rebalance.py
    TODO_REBALANCE_APPS=audit ~/.cache/todo-events/venv/bin/python -m pytest -q -s tests/replicas/test_rebalance.py
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field

import mail
import test_faults as F
from replicas import CONSUMERS, log_sizes, redeliveries_since, running_replicas, stable_owners
from support import RUN, read_env

APPS = [a.strip() for a in os.environ.get("TODO_REBALANCE_APPS", ",".join(CONSUMERS)).split(",") if a.strip()]
GOAL_S = float(os.environ.get("TODO_REBALANCE_GOAL_S", "5"))

# Every consumer's lag: events of the run written up to a moment and not yet in its inbox.
PENDING_SQL = """
SELECT count(*) FILTER (WHERE o.published_at IS NULL)
     + count(*) FILTER (WHERE o.topic = 'task-events' AND NOT EXISTS (SELECT 1 FROM processed_events p
                        WHERE p.consumer = 'audit' AND p.event_id = (o.payload->>'event_id')::uuid))
     + count(*) FILTER (WHERE o.topic = 'task-events' AND NOT EXISTS (SELECT 1 FROM processed_events p
                        WHERE p.consumer = 'recurring' AND p.event_id = (o.payload->>'event_id')::uuid))
     + count(*) FILTER (WHERE o.topic = 'reminders' AND NOT EXISTS (SELECT 1 FROM processed_events p
                        WHERE p.consumer = 'notification' AND p.event_id = (o.payload->>'event_id')::uuid))
     + count(*) FILTER (WHERE o.topic = 'task-updates' AND NOT EXISTS (SELECT 1 FROM processed_events p
                        WHERE p.consumer = 'realtime' AND p.event_id = (o.payload->>'event_id')::uuid))
FROM outbox o
WHERE o.id > %s AND o.payload->>'user_id' LIKE %s AND o.created_at <= to_timestamp(%s)
"""


@dataclass
class Action:
    name: str
    app: str                               # the app-id whose group it changes ("*": every one)
    steps: list[tuple[str, ...]]           # ./dev commands, in order
    members_after: int                     # the group's size once it has settled


def actions() -> list[Action]:
    out = []
    for a in APPS:
        out += [
            Action(f"add daprd-{a}@3", a, [("replica", "add", a)], 3),
            Action(f"SIGTERM daprd-{a}@3", a, [("stop", f"daprd-{a}@3")], 2),
            Action(f"kill -9 daprd-{a}@2", a, [("kill", f"daprd-{a}@2"), ("start", f"daprd-{a}@2")], 2),
        ]
    out.append(Action("kill -9 app@2", "*", [("kill", "app@2"), ("start", "app@2")], 2))
    return out


@dataclass
class Row:
    action: Action
    phase: F.Phase
    moved: int = 0
    redelivered: dict = field(default_factory=dict)
    lag_zero_s: float | None = None
    pending: int = 0


def moved(before: dict, after: dict) -> int:
    return sum(1 for tp in set(before) | set(after) if before.get(tp) != after.get(tp))


def test_rebalances_lose_nothing_double_nothing_and_reorder_nothing():
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    bootstrap = env["KAFKA_BOOTSTRAP"]
    short = {a: running_replicas(a) for a in ["task-api", *CONSUMERS]}
    short = {a: r for a, r in short.items() if r != [1, 2]}
    assert not short, f"the stage starts from replicas 1 and 2 of every service, not {short} (./dev replica add all)"
    assert F.alive("app@2") and F.alive("balancer"), "app@2 and the balancer must run (./dev replica add all)"
    runtime = F.runtime_env()
    run = f"r{F.SEED}x{uuid.uuid4().hex[:6]}"
    like = f"{run}-%"
    db = F.Db()
    start_id = db.rows("SELECT coalesce(max(id), 0) FROM outbox")[0][0]
    offsets0 = F.kafka_ends(bootstrap, F.TOPICS + F.DLQS)
    logs0 = F.log_sizes()
    mail_before = len(mail.messages())
    t_run = time.time()
    plan = actions()
    print(f"\nreplica stage: run {run}, seed {F.SEED}, {F.USERS} users, {F.RATE:g} writes/s through Pushpin "
          f"({env['PUSHPIN_URL']}) to 2 task-api replicas, runtime {runtime.get('TODO_RUNTIME', '?')}, "
          f"{len(plan)} actions on {', '.join(APPS)}")
    wl = F.Workload(env["PUSHPIN_URL"], secrets["JWT_SECRET"], run, F.SEED, F.USERS, F.RATE, moves=True)
    rows: list[Row] = []
    wl.start()
    try:
        for act in plan:
            ph = F.Phase(F.Fault(act.name, act.app, "action"), start=time.time())
            row = Row(act, ph)
            rows.append(row)
            groups = list(CONSUMERS) if act.app == "*" else [act.app]
            time.sleep(F.PRE_S)
            before = {g: stable_owners(bootstrap, g, len(running_replicas(g)), timeout=10) for g in groups}
            sizes = log_sizes()
            ph.injected = time.time()
            try:
                for st in act.steps:
                    F.dev(*st, env=runtime if st[-1].startswith("app") else None)
            finally:
                ph.up = time.time()
            deadline = time.monotonic() + F.CATCHUP_S
            while True:
                row.pending = db.rows(PENDING_SQL, (start_id, like, ph.up))[0][0]
                if row.pending == 0:
                    row.lag_zero_s = time.time() - ph.up
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            after = {g: stable_owners(bootstrap, g, act.members_after if act.app != "*" else 2) for g in groups}
            row.moved = sum(moved(before[g], after[g]) for g in groups)
            time.sleep(F.POST_S)
            row.redelivered = redeliveries_since(sizes)
            ph.end = time.time()
            print(f"  {act.name}: action {ph.up - ph.injected:.1f}s, {row.moved} partition(s) moved, lag zero "
                  f"{'%.1fs' % row.lag_zero_s if row.lag_zero_s is not None else f'no ({row.pending} pending)'}", flush=True)
        extra_deadline = time.monotonic() + 120
        while len(wl.writes) < F.MIN_WRITES and time.monotonic() < extra_deadline:
            time.sleep(1)
    finally:
        wl.allow_reminders.clear()
        wl.finish()
        # Back to replicas 1 and 2 of everything, whatever failed.
        for a in CONSUMERS:
            for part in (f"daprd-{a}@2",):
                if not F.alive(part):
                    F.dev("start", part)
            if F.alive(f"daprd-{a}@3"):
                F.dev("stop", f"daprd-{a}@3")
        if not F.alive("app@2"):
            F.dev("start", "app@2", env=runtime)
        if F.alive("app@3"):
            F.dev("stop", "app@3")
    t_work_end = time.time()
    writes = list(wl.writes)

    last_due = max((F.datetime.fromisoformat(w.reminder["remind_at"].replace("Z", "+00:00")).timestamp()
                    for w in writes if w.reminder), default=time.time())
    settle_deadline = time.monotonic() + F.SETTLE_S
    while time.monotonic() < settle_deadline:
        pending = db.rows(PENDING_SQL, (start_id, like, time.time()))[0][0]
        if pending == 0 and time.time() > last_due + 15:
            break
        time.sleep(1)
    time.sleep(6)
    phases = [r.phase for r in rows]
    report = F.verify(db, bootstrap, run, start_id, offsets0, writes, phases, t_run, t_work_end, mail_before)
    report["daprd_log"] = F.log_lines_since(logs0, r"dead.?letter|deadletter|error sending message|failed to publish")
    table = []
    for r, base in zip(rows, report["rows"]):
        table.append(dict(action=r.action.name, action_s=round(r.phase.up - r.phase.injected, 1), moved=r.moved,
                          events=base["events"], audit_redelivered=r.redelivered.get("audit", 0),
                          realtime_redelivered=r.redelivered.get("realtime", 0), lost=base["lost"],
                          duplicated=base["duplicated"], out_of_order=base["out_of_order"], dlq=base["dlq"],
                          writes=base["writes"], ambiguous=base["ambiguous"],
                          lag_zero_s=None if r.lag_zero_s is None else round(r.lag_zero_s, 1), pending=r.pending))
    report["table"] = table
    report.update(run=run, seed=F.SEED, users=F.USERS, rate=F.RATE, runtime=runtime.get("TODO_RUNTIME"))
    out = RUN / f"rebalance-{run}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print_table(report)
    print(f"figures: {out}")
    db.close()

    problems = list(report["problems"])
    for t in table:
        if t["lag_zero_s"] is None:
            problems.append(f"[{t['action']}] the lag was not back to zero within {F.CATCHUP_S:g}s ({t['pending']} pending)")
    assert len(writes) >= F.MIN_WRITES, f"only {len(writes)} writes (wanted {F.MIN_WRITES})"
    assert not problems, (
        f"replica stage (seed {F.SEED}, run {run}) found {len(problems)} problem(s):\n  "
        + "\n  ".join(problems[:60]) + "\nsidecar log lines:\n" + json.dumps(report["daprd_log"], indent=1))
    slow = [t for t in table if t["lag_zero_s"] > GOAL_S]
    if slow:
        print(f"goal: lag zero within {GOAL_S:g}s of each action; missed by: "
              + ", ".join(f"{t['action']} ({t['lag_zero_s']}s)" for t in slow))


def print_table(report: dict):
    cols = [("action", "action", 26), ("took", "action_s", 5), ("moved", "moved", 5), ("writes", "writes", 6),
            ("5xx/err", "ambiguous", 7), ("events", "events", 6), ("redeliv a", "audit_redelivered", 9),
            ("redeliv rt", "realtime_redelivered", 10), ("lost", "lost", 4),
            ("dup", "duplicated", 4), ("order", "out_of_order", 5), ("dlq", "dlq", 4), ("lag 0", "lag_zero_s", 6)]
    print()
    print("  ".join(h.ljust(w) if k == "action" else h.rjust(w) for h, k, w in cols))
    for r in report["table"]:
        print("  ".join(str(r[k] if r[k] is not None else "-").ljust(w) if k == "action"
                        else (f"{r[k]}s" if k in ("action_s", "lag_zero_s") and r[k] is not None else str(r[k] if r[k] is not None else "-")).rjust(w)
                        for _h, k, w in cols))
    print("redeliv a / rt: events audit / realtime were delivered again after applying them (their logs), "
          "absorbed by the inbox")
    print(f"total: {report['writes']} writes, {report['events']} events, lost {report['lost']}, dead-lettered "
          f"{report['dlq']}, out of order {report['out_of_order']}, workload {report['work_s']}s")

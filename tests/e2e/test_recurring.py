"""Recurring tasks on the real stack: completing an occurrence (through REST or the MCP tools)
makes the recurring service create the next one exactly once, with the due date the rule gives in
the task's time zone (no drift: the 31st, 29 February, BYDAY, local time across DST), through the
task write path (audited, its reminders scheduled); redelivery, reopen-and-complete and an
exhausted series add nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from clients import Api, describe, mcp_call, structured
from support import component_output, wait_until


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_of(user: Api, task_id: str, timeout: float = 45.0) -> dict:
    """The occurrence rolled forward from `task_id`."""
    return wait_until(
        f"the next occurrence of {task_id}",
        lambda: next((t for t in user.list_all() if t["parent_task_id"] == task_id), None),
        timeout=timeout,
    )


def successors(user: Api, task_id: str) -> list[dict]:
    return [t for t in user.list_all() if t["parent_task_id"] == task_id]


def complete(user: Api, stack, task_id: str, via: str) -> None:
    if via == "rest":
        r = user.complete(task_id)
        assert r.status_code == 200 and r.json()["completed"], describe(r)
    else:
        done = structured(mcp_call(stack.host_url, user.token, "complete_task", {"task_id": task_id}))
        assert done["completed"] is True


CASES = [
    # rule, time zone, due, expected next due, completed through. The rule table itself (DST, the
    # 31st, leap days, intervals, BYDAY) is tested where the roll is computed:
    # crates/tasks domain_tests.rs `the_next_occurrence_follows_the_rule_in_the_tasks_time_zone`.
    # Here one case per way of completing a task, through the whole system.
    ("FREQ=WEEKLY;BYDAY=MO,TH", "Europe/Berlin", "2030-01-07T08:00:00Z", "2030-01-10T08:00:00.000Z", "mcp"),
    ("FREQ=DAILY", "America/New_York", "2030-03-09T14:00:00Z", "2030-03-10T13:00:00.000Z", "rest"),
]


@pytest.mark.smoke
@pytest.mark.parametrize("rule, tz, due, expected, via", CASES, ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES])
def test_the_next_occurrence_follows_the_rule(stack, new_user, rule, tz, due, expected, via):
    user = new_user()
    t = user.create(
        title="Water the plants", description="balcony", priority="high", tags=["home"],
        due_date=due, timezone=tz, recurrence=rule,
        reminders=[{"before_minutes": 30}, {"remind_at": "2029-12-31T23:00:00Z", "channel": "email"}],
    )
    complete(user, stack, t["id"], via)
    n = next_of(user, t["id"])
    assert n["due_date"] == expected, f"{rule} in {tz} from {due}"
    same = ("title", "description", "priority", "tags", "timezone", "recurrence")
    assert {k: n[k] for k in same} == {k: t[k] for k in same}
    assert (n["completed"], n["version"], n["recurrence_id"], n["parent_task_id"]) == (False, 1, t["id"], t["id"])
    rel, ab = n["reminders"]
    shift = instant(expected) - instant(due)
    assert (rel["before_minutes"], rel["remind_at"]) == (30, iso(instant(expected) - timedelta(minutes=30))), "relative: recomputed"
    assert ab["remind_at"] == iso(instant("2029-12-31T23:00:00Z") + shift), "absolute: shifted with the due date"
    assert {rel["id"], ab["id"]}.isdisjoint({r["id"] for r in t["reminders"]}), "new reminders, new jobs"
    assert ab["channel"] == "email" and ab["email"] == f"{user.user_id}@example.test", "the address goes with it"
    rows = user.wait_audit(n["id"], 1)
    assert rows[0]["event_type"] == "task.created" and rows[0]["payload"]["task_data"]["parent_task_id"] == t["id"]
    for r in n["reminders"]:
        user.wait_reminder(r["id"], "scheduled", timeout=30)


def test_no_drift_over_successive_months(stack, new_user):
    """From the 31st the series stays on the 31st (months without one are skipped)."""
    user = new_user()
    t = user.create(title="Invoice", due_date="2030-01-31T10:00:00Z", timezone="UTC", recurrence="FREQ=MONTHLY;BYMONTHDAY=31")
    dues = []
    for _ in range(3):
        complete(user, stack, t["id"], "rest")
        t = next_of(user, t["id"])
        dues.append(t["due_date"])
    assert dues == ["2030-03-31T10:00:00.000Z", "2030-05-31T10:00:00.000Z", "2030-07-31T10:00:00.000Z"]


def test_one_occurrence_whatever_is_redelivered_or_completed_again(stack, user_a, topic_reader):
    events = topic_reader("task-events")
    t = user_a.create(title="Standup", due_date="2030-02-01T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY")
    complete(user_a, stack, t["id"], "rest")
    completed = events.find_event(lambda e: e.get("task_id") == t["id"] and e.get("event_type") == "task.completed")
    first = next_of(user_a, t["id"])
    # The same event again, as a redelivery would bring it.
    stack.publish("task-api", "task-events", completed, partition_key=t["id"])
    # Reopen and complete again: a new event about the same occurrence.
    assert user_a.reopen(t["id"]).status_code == 200
    complete(user_a, stack, t["id"], "rest")
    time.sleep(8)  # longer than a delivery and the outbox's re-drain
    assert [s["id"] for s in successors(user_a, t["id"])] == [first["id"]]
    assert "already rolled" in component_output("recurring")


def test_an_exhausted_series_creates_nothing_and_says_so(stack, user_a):
    t = user_a.create(title="Once more", due_date="2030-02-01T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY;COUNT=2")
    complete(user_a, stack, t["id"], "rest")
    n = next_of(user_a, t["id"])
    assert n["recurrence"] == "FREQ=DAILY;COUNT=1", "COUNT counts down"
    complete(user_a, stack, n["id"], "rest")
    wait_until("the series' end in the recurring log", lambda: f"series={t['id']} has ended" in component_output("recurring"))
    assert successors(user_a, n["id"]) == []


def test_other_events_have_no_effect(stack, user_a):
    plain = user_a.create(title="One-off", due_date="2030-02-01T09:00:00Z")
    complete(user_a, stack, plain["id"], "rest")
    gone = user_a.create(title="Deleted", due_date="2030-02-01T09:00:00Z", timezone="UTC", recurrence="FREQ=DAILY")
    assert user_a.delete(gone["id"]).status_code == 204
    time.sleep(6)
    assert successors(user_a, plain["id"]) == [] and successors(user_a, gone["id"]) == []

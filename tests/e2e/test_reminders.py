"""Reminders on the real stack: the task API publishes `reminder.scheduled|cancelled`, the
notification service schedules a Dapr job per reminder on the real Scheduler, and the Scheduler's
callback delivers it once: email through Dapr's SMTP binding to the stack's real SMTP server
(aiosmtpd, tools/mailsink), in-app as a `reminder.due` on `task-updates`. Cancelled reminders
never fire, a callback delivered twice sends one email, a Scheduler restart loses nothing, an SMTP
outage is retried and then recorded as failed."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

import mail
from clients import Api, assert_problem, describe
from support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def at(seconds: float) -> str:
    """The instant `seconds` from now, as the API takes it."""
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def address(user: Api) -> str:
    return f"{user.user_id}@example.test"


def dev(*args: str) -> None:
    r = subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"./dev {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"


def job(stack, reminder_id: str):
    """The reminder's Dapr job as the notification sidecar's Jobs API shows it (None: no job)."""
    r = requests.get(f"{stack.sidecar('notification')}/v1.0/jobs/reminder-{reminder_id}", headers=stack.dapr_headers(), timeout=10)
    if r.status_code == 200 and r.content:
        return r.json()
    assert r.status_code in (204, 404, 500), describe(r)
    return None


def callback(stack, reminder: dict, token: str | None = "app") -> requests.Response:
    """The Scheduler's callback `POST /job/<name>`, made by hand (as the sidecar makes it)."""
    headers = {"content-type": "application/json"}
    if token == "app":
        headers["dapr-api-token"] = stack.app_api_token
    elif token:
        headers["dapr-api-token"] = token
    body = {"reminder_id": reminder["reminder_id"], "remind_at": reminder["remind_at"]}
    return requests.post(f"{stack.host_url}/job/reminder-{reminder['reminder_id']}", json=body, headers=headers, timeout=30)


def test_an_email_reminder_fires_on_time_and_reaches_the_smtp_server(user_a, topic_reader):
    sent_events = topic_reader("reminders")
    title = f"Pay the rent {uuid.uuid4().hex[:6]}"
    when = at(3)
    t = user_a.create(title=title, reminders=[{"remind_at": when, "channel": "email"}])
    rid = t["reminders"][0]["id"]
    assert user_a.wait_reminder(rid, "scheduled", timeout=20)["email"] == address(user_a)
    (msg,) = mail.wait_for(address(user_a), timeout=30)
    assert msg["subject"] == f"Reminder: {title}", msg
    assert title in msg["body"]
    assert msg["received_at"] >= parse(when) - 0.05, "never before its time"
    rec = user_a.wait_reminder(rid, "sent", timeout=20)
    assert rec["attempts"] == 1 and rec["channel"] == "email" and rec["sent_at"], rec
    ev = sent_events.find_event(lambda e: e.get("event_type") == "reminder.sent" and e.get("reminder_id") == rid)
    assert (ev["state"], ev["task_id"], ev["user_id"], ev["email"]) == ("sent", t["id"], user_a.user_id, address(user_a))
    time.sleep(4)
    assert len(mail.to(address(user_a))) == 1, "exactly one email"


@pytest.mark.smoke
def test_an_in_app_reminder_reaches_the_users_task_updates(user_a, topic_reader):
    updates = topic_reader("task-updates")
    t = user_a.create(title="Stretch", reminders=[{"remind_at": at(2)}])
    rid = t["reminders"][0]["id"]
    key, due = updates.find_event_keyed(lambda e: e.get("event_type") == "reminder.due" and (e.get("reminder") or {}).get("reminder_id") == rid)
    assert key == t["id"], "keyed by the task: ordered with the task's own updates"
    assert (due["user_id"], due["task_id"], due["reminder"]["channel"], due["reminder"]["task_title"]) == (user_a.user_id, t["id"], "in_app", "Stretch")
    assert due.get("task") is None and due["sequence"] == 0
    assert user_a.wait_reminder(rid, "sent")["attempts"] == 1
    assert mail.to(address(user_a)) == [], "in-app reminders send no email"


def test_cancelled_and_completed_reminders_never_fire(stack, user_a):
    removed = user_a.create(title="Removed", reminders=[{"remind_at": at(4), "channel": "email"}])
    done = user_a.create(title="Done early", reminders=[{"remind_at": at(4), "channel": "email"}])
    r1, r2 = removed["reminders"][0]["id"], done["reminders"][0]["id"]
    user_a.wait_reminder(r1, "scheduled", timeout=20)
    user_a.wait_reminder(r2, "scheduled", timeout=20)
    # The job follows the `scheduled` row by a moment (see the Scheduler restart test below); it
    # fires 4 s after creation, so it is looked for well before that.
    assert wait_until("a scheduled reminder's job", lambda: job(stack, r1), timeout=2.5), "a scheduled reminder has its job"
    assert user_a.patch(removed["id"], {"reminders": []}).status_code == 200
    assert user_a.complete(done["id"]).status_code == 200
    user_a.wait_reminder(r1, "cancelled", timeout=20)
    user_a.wait_reminder(r2, "cancelled", timeout=20)
    time.sleep(7)  # past their time
    assert mail.to(address(user_a)) == []
    assert (job(stack, r1), job(stack, r2)) == (None, None), "their jobs are deleted"
    assert user_a.reminder(r1)["state"] == "cancelled" and user_a.reminder(r2)["state"] == "cancelled"


def test_a_callback_delivered_twice_sends_one_email(stack, user_a):
    t = user_a.create(title="Twice", reminders=[{"remind_at": "2030-06-01T08:00:00Z", "channel": "email"}])
    rec = user_a.wait_reminder(t["reminders"][0]["id"], "scheduled", timeout=20)
    answers: list[int] = []
    go = threading.Barrier(3)

    def fire():
        go.wait()
        answers.append(callback(stack, rec).status_code)

    threads = [threading.Thread(target=fire) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert 204 in answers and set(answers) <= {204, 503}, answers
    mail.wait_for(address(user_a))
    user_a.wait_reminder(rec["reminder_id"], "sent", timeout=30)
    for _ in range(2):  # and again, after the delivery
        assert callback(stack, rec).status_code == 204
    time.sleep(2)
    assert len(mail.to(address(user_a))) == 1, "one email for one reminder and time"
    stale = {**rec, "remind_at": "2030-06-01T07:00:00.000Z"}
    assert callback(stack, stale).status_code == 204, "a callback for another time is stale: done, nothing sent"
    assert len(mail.to(address(user_a))) == 1


def test_a_late_reminder_fires_at_once_and_one_past_the_grace_period_is_missed(user_a, topic_reader):
    events = topic_reader("reminders")
    late = user_a.create(title="Late", reminders=[{"remind_at": at(-60), "channel": "email"}])
    old = user_a.create(title="Old", reminders=[{"remind_at": at(-20 * 60), "channel": "email"}])
    (msg,) = mail.wait_for(address(user_a), timeout=20)
    assert msg["subject"] == "Reminder: Late"
    user_a.wait_reminder(late["reminders"][0]["id"], "sent")
    rid = old["reminders"][0]["id"]
    assert user_a.wait_reminder(rid, "missed", timeout=20)["attempts"] == 0
    ev = events.find_event(lambda e: e.get("event_type") == "reminder.sent" and e.get("reminder_id") == rid)
    assert ev["state"] == "missed"
    time.sleep(2)
    assert [m["subject"] for m in mail.to(address(user_a))] == ["Reminder: Late"]


def test_the_sidecar_routes_need_the_app_token(stack):
    fake = {"reminder_id": str(uuid.uuid4()), "remind_at": "2030-01-01T00:00:00.000Z"}
    for token in (None, "wrong"):
        r = callback(stack, fake, token=token)
        assert_problem(r, 401)
        headers = {"content-type": "application/cloudevents+json", **({"dapr-api-token": token} if token else {})}
        r = requests.post(f"{stack.host_url}/notification/events", data="{}", headers=headers, timeout=10)
        assert_problem(r, 401)
    assert callback(stack, fake).status_code == 204, "an unknown reminder: nothing to do"


def test_users_see_only_their_own_reminders(user_a, user_b):
    t = user_a.create(title="Mine", reminders=[{"remind_at": "2030-01-01T00:00:00Z"}, {"remind_at": "2030-02-01T00:00:00Z"}])
    ids = [r["id"] for r in t["reminders"]]
    for rid in ids:
        user_a.wait_reminder(rid, "scheduled", timeout=20)
    r = user_a.reminders({"state": "upcoming", "task_id": t["id"]})
    assert r.status_code == 200, describe(r)
    page = r.json()
    assert [i["reminder_id"] for i in page["items"]] == ids, "by time, the next one first"
    first = user_a.reminders({"task_id": t["id"], "limit": 1}).json()
    second = user_a.reminders({"task_id": t["id"], "limit": 1, "cursor": first["next_cursor"]}).json()
    assert [first["items"][0]["reminder_id"], second["items"][0]["reminder_id"]] == ids
    assert user_b.reminders({"task_id": t["id"]}).json()["items"] == []
    assert_problem(user_b.reminders({"task_id": t["id"], "limit": 1, "cursor": first["next_cursor"]}), 400, "cursor")
    assert_problem(user_a.reminders({"state": "soon"}), 400, "state")
    assert_problem(user_a.call("GET", "/api/reminders", token="garbage"), 401)


@pytest.mark.disruptive
def test_a_scheduler_restart_before_the_due_time_loses_nothing(stack, user_a):
    t = user_a.create(title="Survives", reminders=[{"remind_at": at(12), "channel": "email"}])
    rid = t["reminders"][0]["id"]
    user_a.wait_reminder(rid, "scheduled", timeout=20)
    # notification records `scheduled` in the same statement that claims the event, then creates
    # the job through its sidecar: the job follows the row by a moment (longer under load).
    wait_until(f"the Dapr job of reminder {rid}", lambda: job(stack, rid), timeout=8)
    dev("stop", "scheduler")
    time.sleep(1)
    dev("start", "scheduler")
    (msg,) = mail.wait_for(address(user_a), timeout=60)
    assert msg["subject"] == "Reminder: Survives"
    assert user_a.wait_reminder(rid, "sent")["attempts"] == 1


@pytest.mark.disruptive
def test_an_smtp_outage_is_retried_then_recorded_as_failed(stack, user_a, topic_reader):
    events = topic_reader("reminders")
    dev("stop", "mailsink")
    try:
        t = user_a.create(title="Nowhere", reminders=[{"remind_at": at(1), "channel": "email"}])
        rid = t["reminders"][0]["id"]
        rec = user_a.wait_reminder(rid, "failed", timeout=90)
        assert rec["attempts"] == 4, f"the first try and the job's 3 retries: {rec}"
        assert rec["last_error"], rec
        ev = events.find_event(lambda e: e.get("event_type") == "reminder.sent" and e.get("reminder_id") == rid)
        assert ev["state"] == "failed"
    finally:
        dev("start", "mailsink")
    time.sleep(4)
    assert mail.to(address(user_a)) == [], "a failed reminder is not sent later"

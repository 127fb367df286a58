"""Pushpin, which holds every browser's stream, is stopped and started again under open pages: the
pages reconnect by themselves (a new ticket, `last_id` = the last id they saw) and show every change
made meanwhile, a reminder that fired meanwhile included, without a reload. Runs last (disruptive);
Pushpin is started again whatever happens."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from clients import describe


@pytest.mark.disruptive
def test_pages_catch_up_on_every_change_made_while_pushpin_was_down(new_user, open_board, pushpin_control):
    a, b = new_user(), new_user()
    a1, a2, b1 = open_board(a, "A1"), open_board(a, "A2"), open_board(b, "B")
    tag = uuid.uuid4().hex[:6]
    kept = a.create(title=f"Kept {tag}")
    done = a.create(title=f"Done meanwhile {tag}")
    doomed = a.create(title=f"Deleted meanwhile {tag}")
    renamed = a.create(title=f"Old name {tag}")
    for page in (a1, a2):
        for t in (kept, done, doomed, renamed):
            page.wait_row(t["id"], f"{t['title']!r} before the restart in {page.label}", title=t["title"])
    before = {p.label: p.connection() for p in (a1, a2)}
    b_last = b1.connection()["last_id"]

    pushpin_control.stop()
    for page in (a1, a2, b1):
        page.wait_not_live()
        page.page.wait_for_timeout(200)
    # Changes while no browser can be reached (the tests call the app directly, not via Pushpin).
    r = a.complete(done["id"])
    assert r.status_code == 200, describe(r)
    assert a.delete(doomed["id"]).status_code == 204
    r = a.patch(renamed["id"], {"title": f"New name {tag}", "priority": "urgent"})
    assert r.status_code == 200, describe(r)
    created = a.create(title=f"Created meanwhile {tag}", tags=["offline"])
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    reminded = a.create(title=f"Reminded meanwhile {tag}", reminders=[{"remind_at": at, "channel": "in_app"}])
    a.wait_reminder(reminded["reminders"][0]["id"], "sent", timeout=45)
    time.sleep(2)  # let the realtime service take in the last updates (it stores them, then fails to publish)
    for page in (a1, a2):
        assert page.connection()["state"] != "live", f"{page.label} claims to be live with Pushpin down: {page.state()}"
    pushpin_control.start()

    for page in (a1, a2):
        page.wait_live(timeout=45)
        page.wait_row(done["id"], f"the task completed meanwhile, in {page.label}", completed=True)
        page.wait_no_row(doomed["id"], f"the task deleted meanwhile to leave {page.label}")
        page.wait_row(renamed["id"], f"the task renamed meanwhile, in {page.label}", title=f"New name {tag}")
        assert page.row(renamed["id"]).get_attribute("data-priority") == "urgent", page.state()
        page.wait_row(created["id"], f"the task created meanwhile, in {page.label}", title=created["title"])
        page.wait_row(reminded["id"], f"the task with the reminder, in {page.label}", title=reminded["title"])
        page.wait_row(kept["id"], f"the untouched task, still in {page.label}", title=kept["title"], completed=False)
        # Only the stream can bring a fired reminder: this one came from the replay after last_id.
        page.wait_notice(reminded["title"], timeout=30)
        assert page.not_reloaded(), f"{page.label} was reloaded"
        after = page.connection()
        assert int(after["last_id"]) > int(before[page.label]["last_id"]), (before[page.label], after)

    # And the pages are live again: a change after the restart arrives too.
    late = a.create(title=f"After the restart {tag}")
    for page in (a1, a2):
        page.wait_row(late["id"], f"a task created after the restart, in {page.label}", title=late["title"])
    b1.wait_live(timeout=45)
    assert b1.connection()["last_id"] == b_last, f"B's page received stream messages: {b1.state()}"
    assert b1.task_ids() == [] and b1.notices() == [], b1.state()

"""The web board in headless Chromium on the real stack: two pages (tabs) of user A and one page of
user B. A change made in one page, through the REST API, through the MCP tools, by the recurring
service or by a fired reminder shows live (no reload) in every page of its user and never in the
other user's page."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import requests

from board import Board
from clients import describe, mcp_call, structured


def mcp(host_url: str, token: str, tool: str, arguments: dict) -> dict:
    """One MCP tool call (official SDK) in a thread of its own: Playwright's sync API already runs
    an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return structured(pool.submit(mcp_call, host_url, token, tool, arguments).result(timeout=60))


def unique(title: str) -> str:
    return f"{title} {uuid.uuid4().hex[:6]}"


def assert_untouched(b: Board, last_id_before, *texts: str) -> None:
    """B's page got nothing: no new stream message, none of A's texts, no task."""
    conn = b.connection()
    assert conn["last_id"] == last_id_before, f"B's page received stream messages: {b.state()}"
    assert b.task_ids() == [], f"B's page shows tasks: {b.state()}"
    for t in texts:
        assert not b.has_text(t), f"B's page shows {t!r}: {b.state()}"
    assert b.notices() == [], f"B's page shows notices: {b.state()}"


def three_pages(new_user, open_board):
    a, b = new_user(), new_user()
    a1, a2, b1 = open_board(a, "A1"), open_board(a, "A2"), open_board(b, "B")
    return a, b, a1, a2, b1, b1.connection()["last_id"]


def test_the_board_is_served_with_its_types_and_policy(urls):
    r = requests.get(f"{urls.board}/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8", describe(r)
    assert r.headers["cache-control"] == "no-store", describe(r)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp, csp
    for path, ty in [("/app/board.js", "text/javascript"), ("/app/board.css", "text/css"), ("/app/icon.svg", "image/svg+xml")]:
        r = requests.get(f"{urls.board}{path}", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ty), describe(r)
        again = requests.get(f"{urls.board}{path}", headers={"If-None-Match": r.headers["etag"]}, timeout=10)
        assert again.status_code == 304, describe(again)
    assert requests.get(f"{urls.board}/app/nope.js", timeout=10).status_code == 404
    assert requests.post(f"{urls.board}/", timeout=10).status_code == 405


def test_a_task_created_in_one_page_shows_live_in_the_users_other_page_only(new_user, open_board):
    a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    # Markup in user text must show as text.
    title = unique("Water the <b>plants</b> <img src=x>")
    tid = a1.create(title, description="balcony & kitchen", priority="high", tags="Home, Garden",
                    due_local="2030-01-10T09:00", timezone="Europe/Berlin", reminder_minutes="30")
    a2.wait_row(tid, f"the task created in A1 to show in A2 ({title!r})", title=title, completed=False)
    row = a2.row(tid)
    assert row.get_attribute("data-priority") == "high"
    assert row.locator(".tag").all_inner_texts() == ["home", "garden"], a2.state()
    assert row.locator("time").get_attribute("datetime") == "2030-01-10T08:00:00.000Z", "09:00 in Berlin is 08:00 UTC"
    assert "(Europe/Berlin)" in row.locator(".due").inner_text()
    assert "30 min before" in row.locator(".reminders").inner_text()
    assert row.locator("b, img").count() == 0, "user text was inserted as markup"
    assert a2.not_reloaded(), "A2 reloaded"
    stored = a.get(tid).json()
    assert (stored["title"], stored["tags"], stored["due_date"], stored["timezone"]) == (
        title, ["home", "garden"], "2030-01-10T08:00:00.000Z", "Europe/Berlin")
    time.sleep(1)  # had it leaked to B, it would have arrived together with A2's copy
    assert_untouched(b1, b_last, title)


def test_complete_reopen_and_delete_in_one_page_follow_in_the_other(new_user, open_board):
    _a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    title = unique("Call the plumber")
    tid = a1.create(title)
    a2.wait_row(tid, "the new task in A2", title=title, completed=False)
    a1.click_in_row(tid, "Complete")
    a2.wait_row(tid, "the task completed in A1 to show completed in A2", completed=True)
    a1.wait_row(tid, "A1's own row to show completed", completed=True)
    a2.click_in_row(tid, "Reopen")
    a1.wait_row(tid, "the task reopened in A2 to show open in A1", completed=False)
    a1.click_in_row(tid, "Delete")
    a2.wait_no_row(tid, "the task deleted in A1 to disappear from A2")
    a1.wait_no_row(tid, "the deleted task to leave A1")
    assert a1.not_reloaded() and a2.not_reloaded()
    time.sleep(1)
    assert_untouched(b1, b_last, title)


def test_changes_through_the_rest_api_and_mcp_show_live(urls, new_user, open_board):
    a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    title = unique("Via REST")
    t = a.create(title=title, priority="urgent", tags=["api"])
    a1.wait_row(t["id"], "a task created through the REST API", title=title)
    renamed = title + " (renamed)"
    r = a.patch(t["id"], {"title": renamed})
    assert r.status_code == 200, describe(r)
    a1.wait_row(t["id"], "the title changed through the REST API", title=renamed)
    via_mcp = unique("Via MCP")
    added = mcp(urls.host, a.token, "add_task", {"title": via_mcp, "priority": "low"})
    a1.wait_row(added["id"], "a task added with the MCP tool add_task", title=via_mcp, completed=False)
    mcp(urls.host, a.token, "complete_task", {"task_id": added["id"]})
    a1.wait_row(added["id"], "a task completed with the MCP tool complete_task", completed=True)
    assert a.delete(t["id"]).status_code == 204
    a1.wait_no_row(t["id"], "a task deleted through the REST API")
    a2.wait_row(added["id"], "A2 to have the MCP task as well", completed=True)
    a2.wait_no_row(t["id"], "A2 to have dropped the deleted task")
    assert a1.not_reloaded() and a2.not_reloaded()
    time.sleep(1)
    assert_untouched(b1, b_last, title, via_mcp)


def test_a_completed_recurring_task_shows_its_next_occurrence(new_user, open_board):
    a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    title = unique("Water the plants")
    tid = a1.create(title, due_local="2030-01-10T09:00", timezone="Europe/Berlin", recurrence="FREQ=DAILY")
    a2.wait_row(tid, "the recurring task in A2", title=title)
    assert "FREQ=DAILY" in a2.row(tid).locator(".recurrence").inner_text()
    a1.click_in_row(tid, "Complete")
    deadline = time.monotonic() + 45
    nxt = None
    while nxt is None and time.monotonic() < deadline:
        nxt = next((t for t in a.list_all() if t["parent_task_id"] == tid), None)
        time.sleep(0.25)
    assert nxt is not None, f"the recurring service created no next occurrence of {tid} within 45s"
    assert nxt["due_date"] == "2030-01-11T08:00:00.000Z", nxt
    for page in (a1, a2):
        page.wait_row(nxt["id"], f"the next occurrence (created by the recurring service) in {page.label}",
                      title=title, completed=False)
        page.wait_row(tid, f"the completed occurrence in {page.label}", completed=True)
        assert page.row(nxt["id"]).locator("time").get_attribute("datetime") == nxt["due_date"]
    assert a1.not_reloaded() and a2.not_reloaded()
    assert_untouched(b1, b_last, title)


def test_a_fired_in_app_reminder_shows_its_notice(new_user, open_board):
    a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    title = unique("Stretch")
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    t = a.create(title=title, reminders=[{"remind_at": at, "channel": "in_app"}])
    a1.wait_row(t["id"], "the task with the reminder", title=title)
    for page in (a1, a2):
        text = page.wait_notice(title, timeout=45)
        assert text.startswith("Reminder:"), text
        notice = page.page.locator(f'#notices li[data-reminder-id="{t["reminders"][0]["id"]}"]')
        assert notice.count() == 1, page.state()
    assert a.reminder(t["reminders"][0]["id"])["state"] == "sent"
    # Dismissing it removes it from that page only.
    a1.page.get_by_role("button", name=f"Dismiss the reminder for “{title}”").click()
    assert a1.notices() == [] and len(a2.notices()) == 1
    time.sleep(1)
    assert_untouched(b1, b_last, title)


def test_validation_problems_show_next_to_their_fields(new_user, open_board):
    a = new_user()
    a1 = open_board(a, "A1")
    # Checked in the page: no title.
    a1.fill_create("")
    a1.page.click("#create-submit")
    a1.page.wait_for_selector("#f-title-error:not([hidden])", timeout=5000)
    assert a1.page.get_attribute("#f-title", "aria-invalid") == "true"
    # Checked by the API (RFC 9457 errors[].field): an unknown frequency, a reminder without a due date.
    a1.fill_create("Bad rule", recurrence="FREQ=SOMETIMES", due_local="2030-01-10T09:00", timezone="UTC")
    a1.page.click("#create-submit")
    a1.page.wait_for_selector("#f-recurrence-error:not([hidden])", timeout=10000)
    assert "SOMETIMES" in a1.page.inner_text("#f-recurrence-error")
    assert a1.page.get_attribute("#f-recurrence", "aria-invalid") == "true"
    assert a1.page.get_attribute("#f-title", "aria-invalid") is None, "the old problem was cleared"
    assert a1.page.evaluate("() => document.activeElement.id") == "f-recurrence", "focus goes to the field"
    a1.fill_create("No due date", reminder_minutes="10")
    a1.page.click("#create-submit")
    a1.page.wait_for_selector("#f-reminder-error:not([hidden])", timeout=10000)
    assert a1.task_ids() == [] and a.list_ok()["items"] == [], "nothing was created"


def test_sign_in_refuses_a_bad_token_and_sign_out_ends_the_stream(urls, new_user, open_board, browser):
    a = new_user()
    ctx = browser.new_context()
    try:
        b = Board(ctx.new_page(), urls.board, a.user_id, "signin").open()
        b.page.fill("#token", "not-a-token")
        b.page.click("#sign-in-form button[type=submit]")
        b.page.wait_for_selector("#token-error:not([hidden])", timeout=5000)
        assert "JWT" in b.page.inner_text("#token-error")
        assert b.page.get_attribute("#token", "aria-invalid") == "true"
        # A well-formed token the API refuses (wrong signature) signs the page out again.
        forged = a.token.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
        b.page.fill("#token", forged)
        b.page.click("#sign-in-form button[type=submit]")
        b.page.wait_for_selector("#sign-in:not([hidden]) #token-error:not([hidden])", timeout=15000)
        assert "refused" in b.page.inner_text("#token-error")
        assert b.page.evaluate("() => sessionStorage.length") == 0
    finally:
        ctx.close()
    a1 = open_board(a, "A1")
    assert a1.page.inner_text("#user-id") == a.user_id
    a1.page.reload()  # the token is kept for the tab (sessionStorage)
    a1.wait_live()
    assert a1.page.inner_text("#user-id") == a.user_id
    a1.page.click("#sign-out")
    a1.page.wait_for_selector("#sign-in:not([hidden])", timeout=5000)
    assert a1.connection()["state"] == "offline"
    assert a1.page.evaluate("() => sessionStorage.length") == 0


def test_a_page_that_lost_the_network_catches_up_when_it_is_back(new_user, open_board):
    a, _b, a1, a2, b1, b_last = three_pages(new_user, open_board)
    first = a.create(title=unique("Before the drop"))
    a1.wait_row(first["id"], "a task before the network drop", title=first["title"])
    a1.page.context.set_offline(True)  # both tabs of A: the browser's network is gone
    a1.wait_not_live()
    a2.wait_not_live()
    meanwhile = a.create(title=unique("While offline"))
    r = a.complete(first["id"])
    assert r.status_code == 200, describe(r)
    time.sleep(3)
    assert a1.row(meanwhile["id"]).count() == 0, "an offline page cannot have it yet"
    a1.page.context.set_offline(False)
    for page in (a1, a2):
        page.wait_live(timeout=30)
        page.wait_row(meanwhile["id"], f"the task created while offline, in {page.label}", title=meanwhile["title"])
        page.wait_row(first["id"], f"the task completed while offline, in {page.label}", completed=True)
        assert page.not_reloaded()
    assert_untouched(b1, b_last, first["title"], meanwhile["title"])

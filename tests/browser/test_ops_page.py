"""The operators' page (`/ops`, docs/deadletters.md) in headless Chromium on the real stack: an
operator signs in, sees a pending dead letter with its reason, re-drives it with the button, sees
it re-driven (and refused again: it is an unknown MAJOR), then discards it with the other button
and sees it discarded, its buttons disabled. An ordinary user's token gets the API's 403, shown on the page."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest
import requests

from clients import mint_token
from support import RUN, database_url, read_env

SHOTS = RUN / "logs" / "browser"


def poison(host_url: str) -> tuple[str, str]:
    """Publishes a task event of an unknown MAJOR through task-api's sidecar; answers its id."""
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    event_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    ev = {"event_id": event_id, "event_type": "task.created", "schema_version": "2.0.0", "task_id": task_id,
          "user_id": f"ops-{uuid.uuid4().hex[:6]}", "timestamp": "2026-12-07T10:00:00Z", "task_data": {}}
    r = requests.post(f"{env['DAPR_URL_task_api']}/v1.0/publish/pubsub/task-events", json=ev,
                      params={"metadata.partitionKey": task_id},
                      headers={"dapr-api-token": secrets["DAPR_API_TOKEN"]}, timeout=10)
    assert r.status_code == 204, r.text
    return event_id, task_id


def wait_dead(event_id: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url(), autocommit=True) as db:
        while time.monotonic() < deadline:
            row = db.execute("SELECT id FROM dead_letters WHERE key = %s AND consumer = 'audit' AND state = 'dead'",
                             (event_id,)).fetchone()
            if row:
                return row[0]
            time.sleep(0.25)
    pytest.fail(f"no pending dead letter of {event_id} after {timeout}s", pytrace=False)


def test_an_operator_sees_the_reason_and_redrives_from_the_page(browser, urls, jwt_secret, request):
    event_id, _ = poison(urls.host)
    letter = wait_dead(event_id)
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        page.goto(f"{urls.board}/ops", wait_until="domcontentloaded", timeout=30000)
        page.fill("#token", mint_token(jwt_secret, "ops-browser", roles=["operator"]))
        page.click("#sign-in-form button[type=submit]")
        page.wait_for_function("() => Number(document.getElementById('letters').dataset.loads) > 0", timeout=15000)
        row = page.locator(f'#letters tr[data-id="{letter}"]')
        row.wait_for(timeout=10000)
        reason = row.locator("td.reason").inner_text()
        assert "bad_version" in reason and "unknown MAJOR" in reason, reason
        assert event_id in row.locator("td.event").inner_text()
        row.get_by_role("button", name="Re-drive").click()
        page.wait_for_function(
            "(id) => document.getElementById('status').textContent.startsWith(`#${id}: redriven`)", arg=letter,
            timeout=15000)
        # the list now shows pending letters only: this one is gone from it, then back once the
        # consumer refuses it again (still an unknown MAJOR), with one re-drive counted
        page.select_option("#q-state", "all")
        page.click("#refresh")
        page.wait_for_function(
            "(id) => { const r = document.querySelector(`#letters tr[data-id=\"${id}\"] td.redrives`);"
            " return r && r.textContent === '1'; }", arg=letter, timeout=15000)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        # It is refused again each time (an unknown MAJOR): the operator discards it instead.
        deadline = time.monotonic() + 20
        state = "(id) => document.querySelector(`#letters tr[data-id=\"${id}\"]`)?.dataset.state"
        while page.evaluate(state, letter) != "dead":
            assert time.monotonic() < deadline, f"#{letter} not shown dead again: {page.evaluate(state, letter)}"
            time.sleep(0.5)
            page.click("#refresh")
        page.locator(f'#letters tr[data-id="{letter}"]').get_by_role("button", name="Discard").click()
        page.wait_for_function(
            "(id) => document.getElementById('status').textContent === `#${id}: discarded`", arg=letter,
            timeout=15000)
        page.wait_for_function(
            "(id) => document.querySelector(`#letters tr[data-id=\"${id}\"]`)?.dataset.state === 'discarded'",
            arg=letter, timeout=15000)
        assert page.locator(f'#letters tr[data-id="{letter}"]').get_by_role("button", name="Discard").is_disabled()
    finally:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "ops-page.png"), full_page=True)
        (SHOTS / "ops-page.console.txt").write_text("\n".join(console) + "\n")
        ctx.close()


def test_an_ordinary_user_is_shown_the_refusal(browser, urls, jwt_secret):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(f"{urls.board}/ops", wait_until="domcontentloaded", timeout=30000)
        page.fill("#token", mint_token(jwt_secret, "not-an-operator"))
        page.click("#sign-in-form button[type=submit]")
        page.wait_for_function("() => !document.getElementById('error').hidden", timeout=15000)
        text = page.locator("#error").inner_text()
        assert "403" in text and "operator" in text, text
        assert page.locator("#letters tbody tr").count() == 0
    finally:
        ctx.close()

"""The web board as a test drives it: one signed-in page (Playwright, sync API), with waits that
time out with a message saying what was awaited and what the page showed."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# Default wait for a change to show in a page. A live update takes milliseconds; the budget
# covers the task API's outbox timer (5 s) if the first publish failed, and Dapr's redelivery.
LIVE_TIMEOUT = 30.0


class Board:
    """One browser page of the board, signed in as one user."""

    def __init__(self, page: Page, base_url: str, user_id: str, label: str):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.label = label  # e.g. "A1": names the page in messages and screenshot files
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    # ---- describing the page (for failure messages) ---------------------------------------

    def state(self) -> str:
        """One line: connection state, last stream id, list loads, the rows shown."""
        try:
            info = self.page.evaluate(
                """() => {
                    const c = document.getElementById('connection');
                    const rows = [...document.querySelectorAll('li.task')].map((li) =>
                        `${li.querySelector('.task-title')?.textContent}#${li.dataset.taskId.slice(0, 8)}` +
                        `v${li.dataset.version}${li.dataset.completed === 'true' ? ' done' : ''}`);
                    return {conn: c.textContent, state: c.dataset.state, last_id: c.dataset.lastId ?? null,
                            loads: document.getElementById('tasks').dataset.loads ?? null, rows,
                            notices: [...document.querySelectorAll('#notices li')].map((n) => n.textContent)};
                }"""
            )
        except Exception as e:  # the page itself is gone
            return f"page {self.label}: cannot read it ({e})"
        errors = [c for c in self.console if c.startswith(("error", "pageerror"))][-5:]
        return f"page {self.label} ({self.user_id}): {json.dumps(info)}" + (f"; console: {errors}" if errors else "")

    def _wait(self, what: str, js: str, arg=None, timeout: float = LIVE_TIMEOUT):
        try:
            return self.page.wait_for_function(js, arg=arg, timeout=timeout * 1000, polling=100)
        except PlaywrightTimeout:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} in {self.state()}", pytrace=False)

    # ---- signing in ---------------------------------------------------------------------------

    def open(self) -> "Board":
        self.page.goto(self.base_url + "/", wait_until="domcontentloaded", timeout=30000)
        self._wait("the sign-in form", "() => !document.getElementById('sign-in').hidden", timeout=10)
        # Set by the test, kept until the page reloads: proves updates arrived without a reload.
        self.page.evaluate("() => { window.__boardTestMarker = 1; }")
        return self

    def sign_in(self, token: str) -> "Board":
        self.page.fill("#token", token)
        self.page.click("#sign-in-form button[type=submit]")
        self._wait(f"the board of {self.user_id}",
                   "(u) => !document.getElementById('board').hidden && document.getElementById('user-id').textContent === u",
                   self.user_id, timeout=10)
        self.wait_loaded()
        return self

    def wait_loaded(self, timeout: float = 30.0) -> None:
        self._wait("the task list to load", "() => Number(document.getElementById('tasks').dataset.loads || 0) > 0",
                   timeout=timeout)

    def wait_live(self, timeout: float = 30.0) -> None:
        self._wait("live updates (connection state 'live')",
                   "() => document.getElementById('connection').dataset.state === 'live'", timeout=timeout)

    def wait_not_live(self, timeout: float = 20.0) -> None:
        self._wait("the page to notice the stream is gone",
                   "() => document.getElementById('connection').dataset.state !== 'live'", timeout=timeout)

    def connection(self) -> dict:
        return self.page.evaluate(
            "() => { const c = document.getElementById('connection');"
            " return {state: c.dataset.state, text: c.textContent, last_id: c.dataset.lastId ?? null}; }"
        )

    def not_reloaded(self) -> bool:
        return self.page.evaluate("() => window.__boardTestMarker === 1")

    # ---- the create form ------------------------------------------------------------------------

    def fill_create(self, title: str, *, description: str = "", priority: str = "normal", tags: str = "",
                    due_local: str = "", timezone: str | None = None, recurrence: str = "",
                    reminder_minutes: str = "", channel: str = "in_app") -> None:
        p = self.page
        p.fill("#f-title", title)
        p.fill("#f-description", description)
        p.select_option("#f-priority", priority)
        p.fill("#f-tags", tags)
        p.fill("#f-due", due_local)
        if timezone is not None:
            p.fill("#f-timezone", timezone)
        p.fill("#f-recurrence", recurrence)
        p.fill("#f-reminder", reminder_minutes)
        p.select_option("#f-channel", channel)

    def create(self, title: str, **fields) -> str:
        """Creates a task through the form; answers its id once the page shows it."""
        self.fill_create(title, **fields)
        self.page.click("#create-submit")
        self._wait(f"the form to report “{title}” added",
                   "(t) => document.getElementById('create-status').textContent === `Added “${t}”.`", title, timeout=30)
        handle = self._wait(f"a row titled {title!r}",
                            """(t) => { const h = [...document.querySelectorAll('li.task .task-title')]
                                        .find((e) => e.textContent === t);
                                        return h ? h.closest('li.task').dataset.taskId : null; }""", title, timeout=10)
        return handle.json_value()

    # ---- the list ---------------------------------------------------------------------------

    def row(self, task_id: str):
        return self.page.locator(f'li.task[data-task-id="{task_id}"]')

    def wait_row(self, task_id: str, what: str, *, title: str | None = None, completed: bool | None = None,
                 timeout: float = LIVE_TIMEOUT) -> None:
        """Waits until the row of `task_id` is shown (with `title` and `completed` when given)."""
        self._wait(
            what,
            """([id, title, completed]) => {
                const li = document.querySelector(`li.task[data-task-id="${id}"]`);
                if (!li) return false;
                if (title !== null && li.querySelector('.task-title').textContent !== title) return false;
                if (completed !== null && li.dataset.completed !== String(completed)) return false;
                return true;
            }""",
            [task_id, title, completed],
            timeout=timeout,
        )

    def wait_no_row(self, task_id: str, what: str, timeout: float = LIVE_TIMEOUT) -> None:
        self._wait(what, "(id) => !document.querySelector(`li.task[data-task-id=\"${id}\"]`)", task_id, timeout=timeout)

    def task_ids(self) -> list[str]:
        return self.page.eval_on_selector_all("li.task", "(els) => els.map((e) => e.dataset.taskId)")

    def has_text(self, text: str) -> bool:
        return text in self.page.inner_text("body")

    def click_in_row(self, task_id: str, button: str) -> None:
        """Clicks the row's `Complete`, `Reopen` or `Delete` button."""
        self.row(task_id).get_by_role("button", name=button).first.click(timeout=10000)

    # ---- reminders ----------------------------------------------------------------------------

    def wait_notice(self, title: str, timeout: float = 45.0) -> str:
        handle = self._wait(
            f"a reminder notice naming {title!r}",
            "(t) => [...document.querySelectorAll('#notices li .notice-text')].map((n) => n.textContent)"
            ".find((s) => s.includes(`“${t}”`)) || null",
            title,
            timeout=timeout,
        )
        return handle.json_value()

    def notices(self) -> list[str]:
        return self.page.eval_on_selector_all("#notices li .notice-text", "(els) => els.map((e) => e.textContent)")

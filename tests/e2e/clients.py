"""Clients of the task API for the end-to-end tests: bearer tokens (PyJWT), a small REST client of
one user, and MCP sessions through the official MCP Python SDK (Streamable HTTP)."""

from __future__ import annotations

import time
import warnings
from contextlib import asynccontextmanager

import jwt
import requests
from jwt.warnings import InsecureKeyLengthWarning

from support import wait_until

PROBLEM = "application/problem+json"


def mint_token(secret: str, sub: str | None, *, exp_in: int | None = 3600, alg: str = "HS256", **claims) -> str:
    """A JWT for `sub` signed with `secret` (HS256 unless `alg` says otherwise); `exp_in=None` omits `exp`.
    Like the auth service's tokens it carries the user's `email` (`<sub>@example.test`) unless
    `email=None` is given."""
    now = int(time.time())
    if sub is not None and "email" not in claims:
        claims["email"] = f"{sub}@example.test"
    claims = {k: v for k, v in claims.items() if v is not None}
    payload = {"iat": now, **claims}
    if sub is not None:
        payload["sub"] = sub
    if exp_in is not None:
        payload["exp"] = now + exp_in
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # HS512 with the HS256 secret
        return jwt.encode(payload, secret, algorithm=alg)


def describe(r: requests.Response) -> str:
    """One line saying what was asked and what came back, for assertion messages."""
    return f"{r.request.method} {r.request.url} -> {r.status_code} {r.headers.get('content-type')} {r.text[:600]}"


def assert_problem(r: requests.Response, status: int, *fields: str) -> dict:
    """`r` is an RFC 9457 problem with `status`; with `fields`, its `errors` name each of them."""
    assert r.status_code == status, describe(r)
    assert r.headers.get("content-type", "").startswith(PROBLEM), describe(r)
    body = r.json()
    assert body.get("status") == status, describe(r)
    assert isinstance(body.get("type"), str) and isinstance(body.get("title"), str), describe(r)
    assert isinstance(body.get("detail"), str), describe(r)
    if fields:
        named = [e["field"] for e in body.get("errors", [])]
        for f in fields:
            assert f in named, f"errors do not name {f!r}: {named} ({describe(r)})"
    return body


class Api:
    """The REST API as one user sees it (every request carries that user's bearer token)."""

    def __init__(self, base_url: str, token: str, user_id: str):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user_id = user_id
        self.http = requests.Session()

    def call(self, method: str, path: str, *, token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", **kw.pop("headers", {})}
        return self.http.request(method, self.base_url + path, headers=headers, timeout=kw.pop("timeout", 60), **kw)

    def create(self, **fields) -> dict:
        r = self.call("POST", "/api/tasks", json=fields)
        assert r.status_code == 201, describe(r)
        return r.json()

    def get(self, task_id: str) -> requests.Response:
        return self.call("GET", f"/api/tasks/{task_id}")

    def patch(self, task_id: str, body) -> requests.Response:
        return self.call("PATCH", f"/api/tasks/{task_id}", json=body)

    def complete(self, task_id: str) -> requests.Response:
        return self.call("POST", f"/api/tasks/{task_id}/complete")

    def reopen(self, task_id: str) -> requests.Response:
        return self.call("POST", f"/api/tasks/{task_id}/reopen")

    def delete(self, task_id: str) -> requests.Response:
        return self.call("DELETE", f"/api/tasks/{task_id}")

    def list(self, params=None) -> requests.Response:
        return self.call("GET", "/api/tasks", params=params)

    def list_ok(self, params=None) -> dict:
        r = self.list(params)
        assert r.status_code == 200, describe(r)
        return r.json()

    def list_all(self, params=None, page_size: int = 100) -> list[dict]:
        """Every task matching `params`, following `next_cursor` to the last page."""
        items: list[dict] = []
        params = dict(params or {}, limit=page_size)
        for _ in range(1000):
            page = self.list_ok(params)
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            params["cursor"] = page["next_cursor"]
        raise AssertionError("more than 1000 pages: next_cursor never ends")

    def audit(self, params=None) -> requests.Response:
        return self.call("GET", "/api/audit", params=params)

    def audit_rows(self, task_id: str | None = None) -> list[dict]:
        """The audit rows (of one task, or all), newest first, every page."""
        return self.audit_all({"task_id": task_id} if task_id else {})

    def audit_all(self, params: dict) -> list[dict]:
        """Every audit row matching `params`, newest first, following `next_cursor`."""
        params = {"limit": 100, **params}
        rows: list[dict] = []
        for _ in range(1000):
            r = self.audit(params)
            assert r.status_code == 200, describe(r)
            page = r.json()
            rows += page["items"]
            if page["next_cursor"] is None:
                return rows
            params["cursor"] = page["next_cursor"]
        raise AssertionError("more than 1000 audit pages")

    def reminders(self, params=None) -> requests.Response:
        return self.call("GET", "/api/reminders", params=params)

    def reminder(self, reminder_id: str) -> dict | None:
        """The notification service's record of one reminder of this user, or None."""
        items: list[dict] = []
        params = {"limit": 100}
        while True:
            r = self.reminders(params)
            assert r.status_code == 200, describe(r)
            page = r.json()
            items += page["items"]
            if not page["next_cursor"]:
                break
            params = {"limit": 100, "cursor": page["next_cursor"]}
        return next((i for i in items if i["reminder_id"] == reminder_id), None)

    def wait_reminder(self, reminder_id: str, state: str, timeout: float = 60.0) -> dict:
        """Polls until the reminder is in `state`; fails showing its last record."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.reminder(reminder_id)
            if last and last["state"] == state:
                return last
            time.sleep(0.2)
        raise AssertionError(f"reminder {reminder_id} not {state} within {timeout:.0f}s: {last}")

    def wait_audit(self, task_id: str, count: int, timeout: float = 60.0) -> list[dict]:
        """Polls until the task has at least `count` audit rows; answers them, newest first."""
        return wait_until(
            f"{count} audit row(s) of task {task_id}",
            lambda: (rows := self.audit_rows(task_id)) and len(rows) >= count and rows,
            timeout=timeout,
        )


@asynccontextmanager
async def mcp_client(host_url: str, token: str | None, mode: str = "legacy"):
    """An MCP client session (official SDK, Streamable HTTP) at `<host>/mcp` with the bearer token.

    `mode="legacy"` is the `initialize` handshake; `"auto"` (the SDK's default) first probes the
    newer `server/discover` and falls back to `initialize`."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http:
        transport = streamable_http_client(f"{host_url.rstrip('/')}/mcp", http_client=http, terminate_on_close=False)
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


def mcp_call(host_url: str, token: str, tool: str, arguments: dict):
    """One MCP `tools/call` in its own session (synchronous, for tests that are not async)."""
    import anyio

    async def run():
        async with mcp_client(host_url, token) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(run)


def structured(result) -> dict:
    """The structured content of a successful MCP tool result (checked against its text content)."""
    import json

    assert not result.is_error, f"tool call failed: {result.content}"
    assert result.structured_content is not None, f"no structuredContent: {result}"
    texts = [c.text for c in result.content if c.type == "text"]
    assert texts, f"no text content: {result.content}"
    assert json.loads(texts[0]) == result.structured_content, "text content is the JSON of structuredContent"
    return result.structured_content

"""The security sweep, as tables of routes x cases, on the real stack (straight to the app and,
for what browsers call, through Pushpin as the web board does):

- every route a user calls (REST, MCP, audit, reminders, stream tickets) x every bad token
  (missing, not Bearer, malformed, expired, not yet valid by `nbf` or by `iat`, forged signature,
  `alg: none`, HS512 with the same secret, no `sub`, no `exp`) -> 401, an RFC 9457 problem with a
  `WWW-Authenticate: Bearer` challenge;
- the stream routes (SSE and WebSocket) x every bad ticket (none, garbage, an API token, expired,
  not yet valid, forged, `alg: none`, another audience) -> 401 and no stream;
- every route with another user's ids -> 404 (REST, MCP tool errors) or nothing (lists, audit,
  reminders, feeds), and the other user's task unchanged;
- every route a sidecar calls (subscriptions, the job callback, the outbox timer) x (no
  `dapr-api-token`, a wrong one, one of the wrong length, the right one with a suffix) -> 401
  problem, and with the right token not 401;
- the web board's routes are static and public: no user data, no path escape.

Existing tests already check single cases of these (test_task_api, test_audit, test_realtime,
test_reminders); this module makes them one systematic table. Schemathesis over every operation
of the OpenAPI document is test_fuzz_api.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from clients import PROBLEM, Api, describe, mint_token
from support import RUN, read_env

TICKET_LABEL = b"todo-events stream ticket v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict) -> str:
    """`alg: none`: a header, the claims and an empty signature."""
    return f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims).encode())}."


def bad_tokens(secret: str, sub: str) -> dict[str, str | None]:
    """Authorization header values that must all be refused (None: no header)."""
    now = int(time.time())
    good = {"sub": sub, "email": f"{sub}@example.test", "iat": now, "exp": now + 3600}
    sign = lambda claims, key=secret, alg="HS256": jwt.encode(claims, key, algorithm=alg)  # noqa: E731
    token = sign(good)
    h, p, s = token.split(".")
    return {
        "missing": None,
        "not bearer": f"Basic {base64.b64encode(b'u:p').decode()}",
        "empty bearer": "Bearer ",
        "malformed": "Bearer not.a.jwt",
        "two segments": f"Bearer {h}.{p}",
        "expired": "Bearer " + sign({**good, "iat": now - 7200, "exp": now - 3600}),
        "not yet valid (nbf)": "Bearer " + sign({**good, "nbf": now + 3600, "exp": now + 7200}),
        "not yet valid (iat)": "Bearer " + sign({**good, "iat": now + 3600, "exp": now + 7200}),
        "forged signature": "Bearer " + sign(good, key="another secret of at least 32 bytes!!"),
        "tampered claims": f"Bearer {h}.{b64url(json.dumps({**good, 'sub': 'someone-else'}).encode())}.{s}",
        "alg none": "Bearer " + unsigned(good),
        "alg none, no signature segment": "Bearer " + unsigned(good)[:-1],
        "HS512 same secret": "Bearer " + mint_token(secret, sub, alg="HS512"),
        "no sub": "Bearer " + sign({k: v for k, v in good.items() if k != "sub"}),
        "empty sub": "Bearer " + sign({**good, "sub": ""}),
        "no exp": "Bearer " + sign({k: v for k, v in good.items() if k != "exp"}),
        "exp not a number": "Bearer " + sign({**good, "exp": "tomorrow"}),
    }


# Every route a user calls with a bearer token: (method, path, JSON body or None).
USER_ROUTES = [
    ("GET", "/api/tasks", None),
    ("POST", "/api/tasks", {"title": "never created"}),
    ("GET", "/api/tasks/{id}", None),
    ("PATCH", "/api/tasks/{id}", {"title": "never"}),
    ("DELETE", "/api/tasks/{id}", None),
    ("POST", "/api/tasks/{id}/complete", None),
    ("POST", "/api/tasks/{id}/reopen", None),
    ("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ("GET", "/api/audit", None),
    ("GET", "/api/reminders", None),
    ("POST", "/realtime/tickets", None),
    ("GET", "/api/dead-letters", None),
    ("GET", "/api/dead-letters/1", None),
    ("POST", "/api/dead-letters/1/redrive", None),
    ("POST", "/api/dead-letters/1/discard", None),
    ("POST", "/api/dead-letters/redrive", {"ids": [1], "dry_run": True}),
]


@pytest.fixture(scope="module")
def pushpin(stack) -> str:
    url = read_env(RUN / "stack.env")["PUSHPIN_URL"]
    requests.get(f"{url}/.well-known/spin/health", timeout=5).raise_for_status()
    return url


@pytest.fixture(scope="module")
def victim(stack, jwt_secret) -> dict:
    """User A with a task (with a reminder), its audit rows and its feed: what B must not reach."""
    a = Api(stack.host_url, mint_token(jwt_secret, f"sec-a-{uuid.uuid4()}"), "")
    a.user_id = jwt.decode(a.token, options={"verify_signature": False})["sub"]
    t = a.create(title=f"A's secret {uuid.uuid4().hex[:8]}", reminders=[{"remind_at": "2030-01-01T00:00:00Z"}])
    a.wait_audit(t["id"], 1)
    a.wait_reminder(t["reminders"][0]["id"], "scheduled", timeout=30)
    return {"api": a, "task": t}


def assert_401_problem(r: requests.Response, case: str):
    assert r.status_code == 401, f"{case}: {describe(r)}"
    assert r.headers.get("content-type", "").startswith(PROBLEM), f"{case}: {describe(r)}"
    body = r.json()
    assert body.get("status") == 401 and isinstance(body.get("title"), str), f"{case}: {describe(r)}"
    assert r.headers.get("www-authenticate", "").startswith("Bearer"), f"{case}: no Bearer challenge: {describe(r)}"


@pytest.mark.parametrize("base", ["app", "pushpin"])
def test_every_user_route_refuses_every_bad_token(stack, jwt_secret, pushpin, victim, base):
    url = stack.host_url if base == "app" else pushpin
    tid = victim["task"]["id"]
    failures = []
    for case, header in bad_tokens(jwt_secret, victim["api"].user_id).items():
        for method, path, body in USER_ROUTES:
            headers = {"Authorization": header} if header is not None else {}
            r = requests.request(method, url + path.format(id=tid), json=body, headers=headers, timeout=30)
            try:
                assert_401_problem(r, f"{case} {method} {path}")
            except AssertionError as e:
                failures.append(str(e))
    assert not failures, f"{len(failures)} route x token case(s) not refused:\n" + "\n".join(failures[:40])
    # ... and nothing changed.
    r = victim["api"].get(tid)
    assert r.status_code == 200 and r.json()["title"] == victim["task"]["title"] and not r.json()["completed"], describe(r)


def derived_ticket(secret: str, claims: dict, alg: str = "HS256") -> str:
    key = hmac.new(secret.encode(), TICKET_LABEL, hashlib.sha256).digest()
    return jwt.encode(claims, key, algorithm=alg)


def test_every_stream_route_refuses_every_bad_ticket(pushpin, jwt_secret, victim):
    sub = victim["api"].user_id
    now = int(time.time())
    base = {"sub": sub, "aud": "todo-stream", "iat": now, "exp": now + 60}
    tickets = {
        "none": None,
        "garbage": "garbage",
        "an API token": victim["api"].token,
        "expired": derived_ticket(jwt_secret, {**base, "iat": now - 600, "exp": now - 300}),
        "not yet valid": derived_ticket(jwt_secret, {**base, "iat": now + 3600, "nbf": now + 3600, "exp": now + 3700}),
        "forged": derived_ticket("another secret of at least 32 bytes!!", base),
        "signed with the API secret": jwt.encode(base, jwt_secret, algorithm="HS256"),
        "alg none": unsigned(base),
        "another audience": derived_ticket(jwt_secret, {**base, "aud": "todo-api"}),
        "no sub": derived_ticket(jwt_secret, {k: v for k, v in base.items() if k != "sub"}),
    }
    ws = pushpin.replace("http", "ws", 1)
    failures = []
    for case, t in tickets.items():
        params = {"ticket": t} if t is not None else None
        r = requests.get(f"{pushpin}/realtime/events", params=params, timeout=10, stream=True)
        if r.status_code != 401 or not r.headers.get("content-type", "").startswith(PROBLEM):
            failures.append(f"SSE, {case}: {r.status_code} {r.headers.get('content-type')}")
        r.close()
        try:
            connect(f"{ws}/realtime/ws" + (f"?ticket={t}" if t is not None else ""), open_timeout=10).close()
            failures.append(f"WebSocket, {case}: the handshake succeeded")
        except InvalidStatus as e:
            if e.response.status_code != 401:
                failures.append(f"WebSocket, {case}: {e.response.status_code}")
    assert not failures, "\n".join(failures)


def mcp(url: str, token: str, name: str, arguments: dict) -> dict:
    r = requests.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                          "params": {"name": name, "arguments": arguments}},
                      headers={"Authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}, timeout=30)
    assert r.status_code == 200, describe(r)
    return r.json()["result"]


@pytest.mark.parametrize("base", ["app", "pushpin"])
def test_another_users_ids_get_404_or_nothing_on_every_route(stack, pushpin, jwt_secret, victim, base):
    url = stack.host_url if base == "app" else pushpin
    a, t = victim["api"], victim["task"]
    b = Api(url, mint_token(jwt_secret, f"sec-b-{uuid.uuid4()}"), "")
    tid, rid = t["id"], t["reminders"][0]["id"]
    failures = []

    def expect_404(r: requests.Response, what: str):
        if r.status_code != 404 or not r.headers.get("content-type", "").startswith(PROBLEM):
            failures.append(f"{what}: {describe(r)}")

    expect_404(b.get(tid), "GET task")
    expect_404(b.patch(tid, {"title": "B was here"}), "PATCH task")
    expect_404(b.patch(tid, {"reminders": []}), "PATCH reminders")
    expect_404(b.complete(tid), "complete")
    expect_404(b.reopen(tid), "reopen")
    expect_404(b.delete(tid), "DELETE task")
    for what, params in [("list", None), ("list q", {"q": t["title"]}), ("list tag", {"tag": "x"})]:
        r = b.list(params)
        if r.status_code != 200 or any(i["id"] == tid for i in r.json()["items"]):
            failures.append(f"{what}: {describe(r)}")
    for what, params in [("audit", {"task_id": tid}), ("audit all", {})]:
        r = b.audit(params)
        if r.status_code != 200 or any(i["task_id"] == tid for i in r.json()["items"]):
            failures.append(f"{what}: {describe(r)}")
    for what, params in [("reminders", {"task_id": tid}), ("reminders all", {})]:
        r = b.reminders(params)
        if r.status_code != 200 or any(i["reminder_id"] == rid for i in r.json()["items"]):
            failures.append(f"{what}: {describe(r)}")
    # A's cursors are A's: B gets 400, not A's next page.
    page = a.audit({"limit": 1}).json()
    if page["next_cursor"]:
        r = b.audit({"limit": 1, "cursor": page["next_cursor"]})
        if r.status_code != 400:
            failures.append(f"A's audit cursor: {describe(r)}")
    # MCP tools with A's ids: tool errors saying not found; lists without A's data.
    for name, args in [("complete_task", {"task_id": tid}), ("delete_task", {"task_id": tid}),
                       ("update_task", {"task_id": tid, "title": "B was here"}),
                       ("set_reminder", {"task_id": tid, "remind_at": "2030-01-02T00:00:00Z"})]:
        res = mcp(url, b.token, name, args)
        text = res["content"][0]["text"]
        if not res.get("isError") or json.loads(text).get("status") != 404:
            failures.append(f"MCP {name}: {res}")
    res = mcp(url, b.token, "list_tasks", {"q": t["title"]})
    if res.get("isError") or res["structuredContent"]["items"]:
        failures.append(f"MCP list_tasks: {res}")
    res = mcp(url, b.token, "list_reminders", {"task_id": tid})
    if res.get("isError") or res["structuredContent"]["items"]:
        failures.append(f"MCP list_reminders: {res}")
    # B's stream replays B's feed only (from the start).
    r = requests.post(f"{pushpin}/realtime/tickets", headers={"Authorization": f"Bearer {b.token}"}, timeout=10)
    assert r.status_code == 200, describe(r)
    s = requests.get(f"{pushpin}/realtime/events", params={"ticket": r.json()["ticket"], "last_id": "0"}, stream=True, timeout=10)
    assert s.status_code == 200, describe(s)
    deadline, seen = time.monotonic() + 3, b""
    try:
        for chunk in s.iter_content(chunk_size=None):
            seen += chunk
            if time.monotonic() > deadline or len(seen) > 100_000:
                break
    except requests.RequestException:
        pass
    s.close()
    if tid.encode() in seen or a.user_id.encode() in seen:
        failures.append(f"B's stream carried A's data: {seen[:300]!r}")
    assert not failures, f"{len(failures)} cross-user case(s) leaked or answered wrongly:\n" + "\n".join(failures)
    # A's task is untouched.
    r = a.get(tid)
    assert r.status_code == 200, describe(r)
    now = r.json()
    assert (now["title"], now["completed"], now["version"], [x["id"] for x in now["reminders"]]) == (
        t["title"], False, t["version"], [rid]), f"A's task changed: {now}"


# Every route a sidecar calls: (method, path, content type, body). The test-only e2e-probe answers
# 401 with a plain JSON body (it is no API); every service answers an RFC 9457 problem.
SIDECAR_ROUTES = [
    ("POST", "/audit/events", "application/cloudevents+json", "{}"),
    ("POST", "/recurring/events", "application/cloudevents+json", "{}"),
    ("POST", "/notification/events", "application/cloudevents+json", "{}"),
    ("POST", "/realtime/events", "application/cloudevents+json", "{}"),
    ("POST", "/deadletters/events", "application/cloudevents+json", "{}"),
    ("POST", "/e2e-probe/events", "application/cloudevents+json", "{}"),
    ("POST", "/job/reminder-00000000-0000-4000-8000-000000000000", "application/json", "{}"),
    ("POST", "/outbox-drain", "application/json", ""),
]


def test_every_sidecar_route_refuses_calls_without_the_app_token(stack):
    right = stack.app_api_token
    cases = {"missing": None, "wrong": "wrong", "wrong, same length": "x" * len(right),
             "right with a suffix": right + "x", "right, truncated": right[:-1], "empty": ""}
    failures = []
    for method, path, ctype, body in SIDECAR_ROUTES:
        for case, token in cases.items():
            headers = {"content-type": ctype, **({"dapr-api-token": token} if token is not None else {})}
            r = requests.request(method, stack.host_url + path, data=body, headers=headers, timeout=30)
            if r.status_code != 401:
                failures.append(f"{case}: {describe(r)}")
            elif path.startswith("/e2e-probe/"):
                continue
            elif not r.headers.get("content-type", "").startswith(PROBLEM) or r.json().get("status") != 401:
                failures.append(f"{case}: not a 401 problem: {describe(r)}")
        # With the right token the route answers (whatever it answers, it is not 401).
        r = requests.request(method, stack.host_url + path, data=body,
                             headers={"content-type": ctype, "dapr-api-token": right}, timeout=30)
        if r.status_code == 401:
            failures.append(f"right token refused: {describe(r)}")
    assert not failures, f"{len(failures)} sidecar route x token case(s) not refused:\n" + "\n".join(failures)


@pytest.mark.smoke
@pytest.mark.parametrize("path", ["/", "/app/", "/app/index.html", "/app/board.js", "/app/board.css", "/ops", "/app/ops.js"])
def test_the_web_board_is_static_and_carries_no_user_data(pushpin, victim, path):
    r = requests.get(pushpin + path, timeout=10)
    assert r.status_code in (200, 404), describe(r)
    assert victim["task"]["title"].encode() not in r.content and victim["api"].user_id.encode() not in r.content


@pytest.mark.parametrize("path", ["/app/../../etc/passwd", "/app/%2e%2e/%2e%2e/etc/passwd", "/app/..%2f..%2fspin.toml",
                                  "/app/%2e%2e%2fCargo.toml"])
def test_the_web_routes_do_not_escape(stack, path):
    # A raw request line, so no client normalises the dots away.
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(stack.host_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status in (400, 404), f"{path}: {r.status} {body[:200]!r}"
    assert b"root:" not in body and b"[package]" not in body and b"spin_manifest_version" not in body

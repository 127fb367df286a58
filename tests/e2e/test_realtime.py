"""Live updates on the real stack, without a browser: the realtime service feeds each user's
task updates (from Kafka, through its sidecar) and Pushpin holds the connections — SSE resumes by
`Last-Event-ID` (or `last_id`), a WebSocket subscribes and replays on open, a stale id gets
`reset`, tickets are short-lived and per user, nobody sees another user's updates, and a fired
in-app reminder arrives the same way."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse

import jwt
import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from clients import Api, assert_problem, describe
from support import RUN, read_env

TICKET_LABEL = b"todo-events stream ticket v1"


@pytest.fixture(scope="session")
def pushpin(stack) -> str:
    url = read_env(RUN / "stack.env").get("PUSHPIN_URL")
    assert url, "PUSHPIN_URL is missing from stack.env: is Pushpin part of the stack? (./dev status)"
    try:
        requests.get(f"{url}/.well-known/spin/health", timeout=5).raise_for_status()
    except requests.RequestException as e:
        pytest.fail(f"Pushpin at {url} does not reach the app ({e})", pytrace=False)
    return url


def ticket(pushpin: str, user: Api) -> str:
    r = requests.post(f"{pushpin}/realtime/tickets", headers={"Authorization": f"Bearer {user.token}"}, timeout=10)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["expires_in"] == 60 and len(body["ticket"]) < 400
    return body["ticket"]


class Sse:
    """An SSE client in a thread: every event (id, event, data) it receives, in order. Closing it
    shuts the socket at once (a blocked read would otherwise wait for the next keep-alive)."""

    def __init__(self, url: str, headers: dict | None = None):
        self.events: queue.Queue = queue.Queue()
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=90)
        self.conn.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        ev: dict = {}
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                raw = line.decode().rstrip("\r\n")
                if raw == "":
                    if ev:
                        if "data" in ev:
                            ev["data"] = json.loads(ev["data"])
                        self.events.put(ev)
                    ev = {}
                elif not raw.startswith(":"):
                    k, _, v = raw.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception:  # noqa: BLE001 (the socket was shut by close(); http.client raises various errors)
            pass

    def next(self, timeout: float = 20.0) -> dict:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE event within {timeout:.0f}s") from None

    def until(self, pred, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching SSE event within {timeout:.0f}s")
            ev = self.next(left)
            if pred(ev):
                return ev

    def quiet(self, seconds: float) -> list[dict]:
        """Everything that arrives within `seconds`."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.events.get(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def is_update_of(task_id: str, kind: str | None = None):
    return lambda ev: ev.get("event") == "update" and ev["data"].get("task_id") == task_id and (kind is None or ev["data"]["event_type"] == kind)


@pytest.mark.smoke
def test_sse_streams_live_updates_and_resumes_from_last_event_id(pushpin, user_a):
    s = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}")
    assert s.status == 200
    hello = s.next()
    assert hello["event"] == "hello" and int(hello["id"]) == hello["data"]["last_id"]
    t = user_a.create(title="live")
    created = s.until(is_update_of(t["id"], "task.created"))
    assert created["data"]["task"]["title"] == "live" and created["data"]["user_id"] == user_a.user_id
    seq = int(created["id"])
    assert seq == int(hello["id"]) + 1, "ids are the user's feed sequence"
    s.close()
    # Changes while disconnected come back on reconnect, in order, after the last id seen.
    assert user_a.patch(t["id"], {"title": "renamed"}).status_code == 200
    assert user_a.complete(t["id"]).status_code == 200
    time.sleep(1.5)
    again = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}", headers={"Last-Event-ID": str(seq)})
    first, second = again.next(), again.next()
    assert [int(first["id"]), int(second["id"])] == [seq + 1, seq + 2]
    assert [first["data"]["event_type"], second["data"]["event_type"]] == ["task.updated", "task.completed"]
    assert first["data"]["sequence"] < second["data"]["sequence"]
    # ... and then it is live again.
    assert user_a.reopen(t["id"]).status_code == 200
    assert int(again.until(is_update_of(t["id"], "task.updated"))["id"]) == seq + 3
    again.close()
    # last_id in the query does the same (a page opening a new EventSource).
    q = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}&last_id={seq + 2}")
    assert int(q.next()["id"]) == seq + 3
    q.close()


def test_an_id_the_feed_does_not_have_gets_a_reset(pushpin, user_a):
    user_a.create(title="one")
    time.sleep(1)
    s = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}&last_id=999999")
    ev = s.next()
    assert ev["event"] == "reset" and int(ev["id"]) == ev["data"]["last_id"] < 999999
    s.close()


def derived_ticket(secret: str, claims: dict) -> str:
    key = hmac.new(secret.encode(), TICKET_LABEL, hashlib.sha256).digest()
    return jwt.encode(claims, key, algorithm="HS256")


def test_bad_tickets_get_401_and_no_stream(pushpin, stack, user_a, jwt_secret):
    now = int(time.time())
    expired = derived_ticket(jwt_secret, {"sub": user_a.user_id, "aud": "todo-stream", "iat": now - 600, "exp": now - 300})
    for t in ["", "garbage", user_a.token, expired]:
        r = requests.get(f"{pushpin}/realtime/events", params={"ticket": t} if t else None, timeout=10)
        assert_problem(r, 401)
        with pytest.raises(InvalidStatus) as e:
            connect(f"{pushpin.replace('http', 'ws', 1)}/realtime/ws?ticket={t}", open_timeout=10).close()
        assert e.value.response.status_code == 401
    r = requests.post(f"{pushpin}/realtime/tickets", timeout=10)
    assert_problem(r, 401)
    r = requests.post(f"{pushpin}/realtime/tickets", headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert_problem(r, 401)


def test_sidecar_and_pushpin_routes_refuse_everyone_else(stack, user_a):
    r = requests.post(f"{stack.host_url}/realtime/events", data="{}", headers={"content-type": "application/cloudevents+json"}, timeout=10)
    assert_problem(r, 401)
    r = requests.post(f"{stack.host_url}/realtime/events", data="{}", headers={"dapr-api-token": "wrong"}, timeout=10)
    assert_problem(r, 401)
    # WebSocket-over-HTTP and recovery straight to the app (not through Pushpin): no Grip-Sig.
    r = requests.post(f"{stack.host_url}/realtime/ws?ticket=x", data="OPEN\r\n", headers={"content-type": "application/websocket-events", "meta-user": user_a.user_id}, timeout=10)
    assert_problem(r, 401)
    r = requests.get(f"{stack.host_url}/realtime/events?recover=x", headers={"grip-last": "x; last-id=0"}, timeout=10)
    assert_problem(r, 401)


def test_users_never_receive_each_others_updates(pushpin, user_a, user_b):
    a = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}")
    b = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_b)}")
    a.next(), b.next()
    mine = user_a.create(title="a's")
    theirs = user_b.create(title="b's")
    a.until(is_update_of(mine["id"]))
    b.until(is_update_of(theirs["id"]))
    leaked_to_a = [e for e in a.quiet(3) if e.get("data", {}).get("user_id") not in (None, user_a.user_id)]
    leaked_to_b = [e for e in b.quiet(1) if e.get("data", {}).get("user_id") not in (None, user_b.user_id)]
    assert leaked_to_a == leaked_to_b == []
    a.close(), b.close()


def test_websocket_subscribes_replays_and_keeps_the_order(pushpin, user_a):
    ws_url = pushpin.replace("http", "ws", 1)
    with connect(f"{ws_url}/realtime/ws?ticket={ticket(pushpin, user_a)}", open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=20))
        assert hello["type"] == "hello"
        t = user_a.create(title="over ws")
        while True:
            msg = json.loads(ws.recv(timeout=20))
            if msg["type"] == "update" and msg["event"]["task_id"] == t["id"]:
                break
        seq = msg["id"]
        assert msg["event"]["event_type"] == "task.created" and seq == hello["last_id"] + 1
    assert user_a.complete(t["id"]).status_code == 200
    time.sleep(1.5)
    with connect(f"{ws_url}/realtime/ws?ticket={ticket(pushpin, user_a)}&last_id={seq}", open_timeout=10) as ws:
        msg = json.loads(ws.recv(timeout=20))
        assert (msg["type"], msg["id"], msg["event"]["event_type"]) == ("update", seq + 1, "task.completed")


def test_a_fired_in_app_reminder_reaches_the_stream(pushpin, user_a):
    s = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}")
    s.next()
    from datetime import datetime, timedelta, timezone

    when = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    t = user_a.create(title="Drink water", reminders=[{"remind_at": when}])
    ev = s.until(lambda e: e.get("event") == "update" and e["data"]["event_type"] == "reminder.due", timeout=40)
    assert ev["data"]["task_id"] == t["id"] and ev["data"]["reminder"]["task_title"] == "Drink water"
    s.close()


def test_one_update_costs_one_component_instance(pushpin, stack, new_user):
    """The feed append and the publish happen once per update, whatever the number of
    connections: the user's feed gets one row per update with 3 streams open."""
    user = new_user()
    streams = [Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user)}") for _ in range(3)]
    for s in streams:
        s.next()
    t = user.create(title="fan-out")
    ids = {int(s.until(is_update_of(t["id"]))["id"]) for s in streams}
    assert len(ids) == 1, "every connection got the same update, once"
    for s in streams:
        s.close()


@pytest.mark.disruptive
def test_updates_made_while_pushpin_is_down_are_replayed_after_it_restarts(pushpin, user_a):
    import subprocess
    from pathlib import Path

    dev = Path(__file__).resolve().parents[2] / "dev"
    s = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}")
    position = int(s.next()["id"])
    subprocess.run([str(dev), "stop", "pushpin"], check=True, capture_output=True, timeout=60)
    try:
        t = user_a.create(title="while Pushpin is down")
        assert user_a.complete(t["id"]).status_code == 200
        time.sleep(2)
    finally:
        subprocess.run([str(dev), "start", "pushpin"], check=True, capture_output=True, timeout=120)
    s.close()
    again = Sse(f"{pushpin}/realtime/events?ticket={ticket(pushpin, user_a)}&last_id={position}")
    kinds = [again.until(is_update_of(t["id"]))["data"]["event_type"] for _ in range(2)]
    assert kinds == ["task.created", "task.completed"], "the feed kept both while Pushpin was away"
    again.close()

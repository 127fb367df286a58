"""The task API's REST side on the real stack: create, read, update, complete/reopen, delete; the
events each write publishes; isolation between users (404, never 403); bearer auth (401);
validation problems naming the field (400), 409, 413, 415; list filters, sort and cursor pages.
Every test works as fresh users of its own, so tests do not see each other's tasks."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import requests

from clients import PROBLEM, Api, assert_problem, describe, mint_token

TASK_FIELDS = {
    "id", "user_id", "title", "description", "completed", "completed_at", "priority", "tags",
    "due_date", "timezone", "recurrence", "recurrence_id", "parent_task_id", "reminders",
    "version", "created_at", "updated_at",
}
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


def data_of(value) -> dict:
    """The event inside a CloudEvent envelope as Dapr writes it to Kafka ({} if it is not one)."""
    data = value.get("data") if isinstance(value, dict) else None
    return data if isinstance(data, dict) else {}


# --- create, read, update, complete, delete ------------------------------------------------------


@pytest.mark.smoke
def test_create_answers_201_with_the_stored_task_and_its_location(user_a):
    r = user_a.call("POST", "/api/tasks", json={
        "title": "  Water the plants ",
        "description": "Balcony and kitchen",
        "priority": "high",
        "tags": ["Home ", "garden", "HOME"],
        "due_date": "2030-05-04T09:00:00+02:00",
        "timezone": "Europe/Berlin",
        "recurrence": "freq=weekly;byday=sa",
        "reminders": [{"before_minutes": 30}, {"remind_at": "2030-05-03T18:00:00Z", "channel": "email"}],
    })
    assert r.status_code == 201, describe(r)
    assert r.headers["content-type"].startswith("application/json"), describe(r)
    t = r.json()
    assert set(t) == TASK_FIELDS
    uuid.UUID(t["id"])
    assert r.headers["location"].endswith(f"/api/tasks/{t['id']}"), r.headers.get("location")
    assert t["user_id"] == user_a.user_id
    assert t["title"] == "Water the plants", "titles are trimmed"
    assert t["tags"] == ["home", "garden"], "tags are trimmed, lower-cased and deduplicated in order"
    assert t["due_date"] == "2030-05-04T07:00:00.000Z", "instants are stored in UTC with milliseconds"
    assert (t["timezone"], t["priority"], t["description"]) == ("Europe/Berlin", "high", "Balcony and kitchen")
    assert t["recurrence"] == "FREQ=WEEKLY;BYDAY=SA", "the rule is stored in canonical form"
    assert t["recurrence_id"] == t["id"] and t["parent_task_id"] is None
    assert (t["completed"], t["completed_at"], t["version"]) == (False, None, 1)
    assert t["created_at"] == t["updated_at"]
    rel, ab = t["reminders"]
    assert (rel["before_minutes"], rel["remind_at"], rel["channel"]) == (30, "2030-05-04T06:30:00.000Z", "in_app")
    assert (ab["before_minutes"], ab["remind_at"], ab["channel"]) == (None, "2030-05-03T18:00:00.000Z", "email")
    assert (ab["email"], rel["email"]) == (f"{user_a.user_id}@example.test", None), "an email reminder keeps the token's address"
    assert rel["id"] != ab["id"]
    got = user_a.get(t["id"])
    assert got.status_code == 200, describe(got)
    assert got.json() == t, "GET answers the task as created"


def test_create_fills_in_defaults(user_a):
    t = user_a.create(title="Buy milk")
    assert t["description"] is None and t["due_date"] is None and t["recurrence"] is None
    assert (t["priority"], t["tags"], t["timezone"], t["reminders"]) == ("normal", [], "UTC", [])
    assert t["completed"] is False and t["completed_at"] is None
    done = user_a.create(title="Already done", completed=True, description="   ")
    assert done["completed"] is True and done["completed_at"] is not None
    assert done["description"] is None, "a blank description is stored as null"


def test_update_changes_only_the_given_fields_and_bumps_the_version(user_a):
    t = user_a.create(title="Draft", description="old", tags=["a"], priority="low", due_date="2030-01-01T10:00:00Z")
    r = user_a.patch(t["id"], {"title": "Final", "priority": "urgent", "description": None, "tags": ["B", "c"]})
    assert r.status_code == 200, describe(r)
    u = r.json()
    assert (u["title"], u["priority"], u["description"], u["tags"]) == ("Final", "urgent", None, ["b", "c"])
    assert u["due_date"] == t["due_date"], "absent fields are unchanged"
    assert u["version"] == 2 and u["created_at"] == t["created_at"] and u["updated_at"] >= t["updated_at"]
    assert user_a.get(t["id"]).json() == u
    cleared = user_a.patch(t["id"], {"due_date": None, "priority": None, "tags": None})
    assert cleared.status_code == 200, describe(cleared)
    c = cleared.json()
    assert (c["due_date"], c["priority"], c["tags"], c["version"]) == (None, "normal", [], 3)


def test_update_with_a_stale_version_is_409_and_changes_nothing(user_a):
    t = user_a.create(title="Versioned")
    assert_problem(user_a.patch(t["id"], {"title": "Lost update", "version": 7}), 409)
    assert user_a.get(t["id"]).json()["title"] == "Versioned"
    r = user_a.patch(t["id"], {"title": "Won", "version": 1})
    assert r.status_code == 200, describe(r)
    assert r.json()["version"] == 2


def test_reminders_follow_the_due_date_and_keep_their_ids(user_a):
    t = user_a.create(title="Dentist", due_date="2030-03-10T09:00:00Z", reminders=[{"before_minutes": 60}])
    rid = t["reminders"][0]["id"]
    moved = user_a.patch(t["id"], {"due_date": "2030-03-11T09:00:00Z"})
    assert moved.status_code == 200, describe(moved)
    assert moved.json()["reminders"] == [
        {"id": rid, "remind_at": "2030-03-11T08:00:00.000Z", "before_minutes": 60, "channel": "in_app", "email": None}
    ]
    replaced = user_a.patch(t["id"], {"reminders": [{"id": rid, "before_minutes": 15, "channel": "webhook"}, {"before_minutes": 5}]})
    assert replaced.status_code == 200, describe(replaced)
    first, second = replaced.json()["reminders"]
    assert (first["id"], first["remind_at"], first["channel"]) == (rid, "2030-03-11T08:45:00.000Z", "webhook")
    assert second["id"] != rid
    assert_problem(user_a.patch(t["id"], {"due_date": None}), 400, "/due_date")


def test_complete_and_reopen(user_a):
    t = user_a.create(title="Laundry")
    r = user_a.complete(t["id"])
    assert r.status_code == 200, describe(r)
    done = r.json()
    assert done["completed"] is True and done["completed_at"] is not None and done["version"] == 2
    again = user_a.complete(t["id"])
    assert again.status_code == 200 and again.json()["completed"] is True, describe(again)
    r = user_a.reopen(t["id"])
    assert r.status_code == 200, describe(r)
    assert r.json()["completed"] is False and r.json()["completed_at"] is None
    via_patch = user_a.patch(t["id"], {"completed": True})
    assert via_patch.status_code == 200 and via_patch.json()["completed"] is True, describe(via_patch)


def test_delete_answers_204_and_then_the_task_is_gone(user_a):
    t = user_a.create(title="Temporary")
    r = user_a.delete(t["id"])
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert_problem(user_a.get(t["id"]), 404)
    assert_problem(user_a.delete(t["id"]), 404)
    assert_problem(user_a.patch(t["id"], {"title": "zombie"}), 404)
    assert_problem(user_a.complete(t["id"]), 404)
    assert t["id"] not in {x["id"] for x in user_a.list_all()}


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "not-a-uuid", "123", "5d1f7c1a3b7e4f43a5f40d9f6d8a2b10x"])
def test_unknown_or_malformed_ids_are_404(user_a, task_id):
    assert_problem(user_a.get(task_id), 404)
    assert_problem(user_a.patch(task_id, {"title": "x"}), 404)
    assert_problem(user_a.delete(task_id), 404)
    assert_problem(user_a.complete(task_id), 404)
    assert_problem(user_a.reopen(task_id), 404)


# --- isolation between users ---------------------------------------------------------------------


def test_another_users_task_is_404_exactly_like_an_unknown_one(user_a, user_b):
    t = user_a.create(title="A's secret", tags=["private"])
    unknown_id = str(uuid.uuid4())
    unknown = {
        "GET": user_b.get(unknown_id),
        "PATCH": user_b.patch(unknown_id, {"title": "B was here"}),
        "POST complete": user_b.complete(unknown_id),
        "POST reopen": user_b.reopen(unknown_id),
        "DELETE": user_b.delete(unknown_id),
    }
    theirs = {
        "GET": user_b.get(t["id"]),
        "PATCH": user_b.patch(t["id"], {"title": "B was here"}),
        "POST complete": user_b.complete(t["id"]),
        "POST reopen": user_b.reopen(t["id"]),
        "DELETE": user_b.delete(t["id"]),
    }
    for op, r in theirs.items():
        body = assert_problem(r, 404)
        same = json.loads(unknown[op].text.replace(unknown_id, t["id"]))
        assert body == same, f"{op} of another user's task differs from an unknown id: {body} vs {same}"
        assert user_a.user_id not in r.text and "secret" not in r.text, "the answer leaks nothing about the task"
    assert_problem(user_b.patch(t["id"], {"title": "B was here", "version": 1}), 404)
    assert user_a.get(t["id"]).json() == t, "A's task is untouched"
    assert t["id"] not in {x["id"] for x in user_b.list_all()}
    assert user_b.list_ok({"tag": "private"})["items"] == []
    assert user_b.list_ok({"q": "secret"})["items"] == []


# --- events ---------------------------------------------------------------------------------------


def test_writes_publish_their_events_keyed_by_task_id(user_a, topic_reader):
    events, updates, reminders = topic_reader("task-events"), topic_reader("task-updates"), topic_reader("reminders")
    t = user_a.create(title="Evented", due_date="2030-06-01T12:00:00Z", reminders=[{"before_minutes": 10}])
    tid, rid = t["id"], t["reminders"][0]["id"]

    key, created = events.find_keyed(lambda v: data_of(v).get("task_id") == tid and data_of(v).get("event_type") == "task.created")
    assert key == tid, "task-events are keyed by task id (metadata.partitionKey)"
    ev = created["data"]
    assert ev["user_id"] == user_a.user_id and ev["schema_version"].startswith("1.")
    assert ev["task_data"]["title"] == "Evented" and ev["task_data"]["reminders"][0]["reminder_id"] == rid
    key, upd = updates.find_keyed(lambda v: data_of(v).get("task_id") == tid)
    assert key == tid and upd["data"]["event_type"] == "task.created" and upd["data"]["sequence"] == 1
    key, sched = reminders.find_keyed(lambda v: data_of(v).get("reminder_id") == rid)
    assert key == tid
    assert (sched["data"]["event_type"], sched["data"]["remind_at"][:16]) == ("reminder.scheduled", "2030-06-01T11:50")

    assert user_a.complete(tid).status_code == 200
    _, completed = events.find_keyed(lambda v: data_of(v).get("task_id") == tid and data_of(v).get("event_type") == "task.completed")
    assert completed["data"]["task_data"]["completed"] is True
    _, cancelled = reminders.find_keyed(lambda v: data_of(v).get("reminder_id") == rid and data_of(v).get("event_type") == "reminder.cancelled")
    assert cancelled["data"]["task_id"] == tid
    _, upd2 = updates.find_keyed(lambda v: data_of(v).get("task_id") == tid and data_of(v).get("sequence") == 2)
    assert upd2["data"]["event_type"] == "task.completed"

    assert user_a.delete(tid).status_code == 204
    _, deleted = events.find_keyed(lambda v: data_of(v).get("task_id") == tid and data_of(v).get("event_type") == "task.deleted")
    assert deleted["data"]["user_id"] == user_a.user_id


def test_a_refused_write_publishes_nothing(user_a, user_b, topic_reader):
    events = topic_reader("task-events")
    t = user_a.create(title="Stable")
    assert user_a.patch(t["id"], {"title": ""}).status_code == 400
    assert user_a.patch(t["id"], {"title": "stale", "version": 9}).status_code == 409
    assert user_b.delete(t["id"]).status_code == 404
    assert user_a.patch(t["id"], {"title": "Stable, really"}).status_code == 200  # the sentinel
    seen: list[str] = []

    def until_sentinel(value) -> bool:
        ev = data_of(value)
        if ev.get("task_id") != t["id"]:
            return False
        seen.append(ev["event_type"])
        return ev["event_type"] == "task.updated"

    events.find(until_sentinel)
    assert seen == ["task.created", "task.updated"], f"only committed writes publish, in order: {seen}"


# --- authentication -------------------------------------------------------------------------------


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _unsigned(sub: str) -> str:
    """An `alg: none` token: well formed, unsigned."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': sub, 'exp': int(time.time()) + 3600})}."


BAD_TOKENS = {
    "expired": lambda s, u: mint_token(s, u, exp_in=-3600),
    "wrong-signature": lambda s, u: mint_token("not-the-secret-" + "x" * 32, u),
    "alg-none": lambda s, u: _unsigned(u),
    "alg-hs512": lambda s, u: mint_token(s, u, alg="HS512"),
    "no-exp": lambda s, u: mint_token(s, u, exp_in=None),
    "no-sub": lambda s, u: mint_token(s, None),
    "empty-sub": lambda s, u: mint_token(s, ""),
    "not-yet-valid": lambda s, u: mint_token(s, u, nbf=int(time.time()) + 3600),
    "malformed": lambda s, u: "not.a.jwt",
    "garbage": lambda s, u: "abc",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_problems(stack, jwt_secret, user_a, case):
    token = BAD_TOKENS[case](jwt_secret, user_a.user_id)
    for method, path, body in (
        ("GET", "/api/tasks", None),
        ("POST", "/api/tasks", {"title": "should not exist"}),
        ("GET", "/api/audit", None),
        ("GET", f"/api/tasks/{uuid.uuid4()}", None),
    ):
        r = requests.request(method, stack.host_url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert_problem(r, 401)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), describe(r)
    assert user_a.list_ok()["items"] == [], "a refused create stored nothing"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_missing_or_non_bearer_authorization_is_401(stack, header):
    headers = {} if header is None else {"Authorization": header}
    for method, path in (("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/audit")):
        r = requests.request(method, stack.host_url + path, json={"title": "x"} if method == "POST" else None, headers=headers, timeout=30)
        assert_problem(r, 401)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), describe(r)


def test_the_token_decides_the_user_not_the_body(user_a):
    r = user_a.call("POST", "/api/tasks", json={"title": "mine", "user_id": "someone-else"})
    assert_problem(r, 400, "/user_id")


# --- bad input --------------------------------------------------------------------------------------


def test_validation_errors_name_every_field(user_a):
    r = user_a.call("POST", "/api/tasks", json={
        "title": "",
        "priority": "extreme",
        "tags": ["ok", "   ", "x" * 51],
        "due_date": "tomorrow",
        "timezone": "Mars/Olympus",
        "recurrence": "FREQ=HOURLY",
        "description": "d" * 4001,
        "reminders": [{"remind_at": "2030-01-01T00:00:00Z", "before_minutes": 5}, {"remind_at": "soon"}],
    })
    body = assert_problem(r, 400, "/title", "/priority", "/tags/1", "/tags/2", "/due_date", "/timezone",
                          "/recurrence", "/description", "/reminders/0", "/reminders/1/remind_at")
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
    assert user_a.list_ok()["items"] == [], "nothing was stored"


@pytest.mark.parametrize("body,field", [
    # The whole table runs in Rust (crates/tasks domain_tests.rs every_bad_create_body_names_its_field);
    # here, through the API, a nested field and a body that is not an object.
    ({"title": "x", "reminders": [{"remind_at": "2030-01-01T10:00:00Z", "channel": "sms"}]}, "/reminders/0/channel"),
    ([{"title": "x"}], ""),
])
def test_bad_create_bodies_are_400_naming_the_field(user_a, body, field):
    assert_problem(user_a.call("POST", "/api/tasks", json=body), 400, field)


@pytest.mark.parametrize("body,field", [
    # The whole table: crates/tasks domain_tests.rs every_bad_patch_body_names_its_field.
    ({"priority": "extreme"}, "/priority"),
    ({"recurrence": "FREQ=WEEKLY;BYSETPOS=1"}, "/recurrence"),
])
def test_bad_patch_bodies_are_400_naming_the_field_and_change_nothing(user_a, body, field):
    t = user_a.create(title="Keep me", priority="low")
    assert_problem(user_a.patch(t["id"], body), 400, field)
    assert user_a.get(t["id"]).json() == t


def test_a_body_that_is_not_json_is_400(user_a):
    r = user_a.call("POST", "/api/tasks", data=b'{"title": ', headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_application_json_is_415(user_a, content_type):
    body = json.dumps({"title": "typed"}).encode()
    assert_problem(user_a.call("POST", "/api/tasks", data=body, headers={"Content-Type": content_type}), 415)
    t = user_a.create(title="Patch me")
    assert_problem(user_a.call("PATCH", f"/api/tasks/{t['id']}", data=b'{"title": "x"}', headers={"Content-Type": content_type}), 415)
    assert [x["title"] for x in user_a.list_all()] == ["Patch me"]


def test_json_with_a_charset_parameter_is_accepted(user_a):
    r = user_a.call("POST", "/api/tasks", data=json.dumps({"title": "utf-8 ✓"}).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, describe(r)
    assert r.json()["title"] == "utf-8 ✓"


def test_a_body_over_64_kib_is_413(user_a):
    big = {"title": "big", "description": "x" * (70 * 1024)}
    assert_problem(user_a.call("POST", "/api/tasks", json=big), 413)
    t = user_a.create(title="small")
    assert_problem(user_a.patch(t["id"], big), 413)
    assert [x["title"] for x in user_a.list_all()] == ["small"]
    # Just under the limit is not refused for its size (the description itself is too long: 400).
    near = {"title": "near", "description": "x" * (60 * 1024)}
    assert_problem(user_a.call("POST", "/api/tasks", json=near), 400, "/description")


# --- list: filters, search, sort, pages -------------------------------------------------------------


@pytest.fixture(scope="module")
def seven_tasks(stack, jwt_secret):
    """Seven tasks of one fresh user with known priorities, tags, due dates and completion (read only)."""
    user_id = f"e2e-list-{uuid.uuid4()}"
    user_a = Api(stack.host_url, mint_token(jwt_secret, user_id), user_id)
    specs = {
        "t1": dict(title="Alpha report", priority="low", tags=["work"], due_date="2030-01-10T00:00:00Z", description="quarterly numbers"),
        "t2": dict(title="beta groceries", priority="urgent", tags=["home", "shopping"], due_date="2030-01-05T00:00:00Z"),
        "t3": dict(title="Gamma call", priority="high", tags=["work", "phone"], completed=True),
        "t4": dict(title="delta plants", priority="normal", tags=["Home"], due_date="2030-01-20T00:00:00Z", description="water the BALCONY"),
        "t5": dict(title="Epsilon taxes", priority="urgent", due_date="2030-01-01T00:00:00Z", completed=True),
        "t6": dict(title="zeta"),
        "t7": dict(title="Eta backup", priority="high", tags=["work"], due_date="2030-02-01T00:00:00Z"),
    }
    tasks = {name: user_a.create(**spec) for name, spec in specs.items()}
    return user_a, tasks


def _names(tasks: dict, items: list[dict]) -> set[str]:
    by_id = {t["id"]: n for n, t in tasks.items()}
    return {by_id[i["id"]] for i in items}


@pytest.mark.parametrize("params,expected", [
    ({}, {"t1", "t2", "t3", "t4", "t5", "t6", "t7"}),
    ({"completed": "true"}, {"t3", "t5"}),
    ({"completed": "false"}, {"t1", "t2", "t4", "t6", "t7"}),
    ({"priority": "urgent"}, {"t2", "t5"}),
    ({"priority": "high,urgent"}, {"t2", "t3", "t5", "t7"}),
    ({"priority": ["high", "urgent"]}, {"t2", "t3", "t5", "t7"}),
    ({"tag": "work"}, {"t1", "t3", "t7"}),
    ({"tag": ["work", "phone"]}, {"t3"}),
    ({"tag": " HOME "}, {"t2", "t4"}),
    ({"due_before": "2030-01-10T00:00:00Z"}, {"t2", "t5"}),
    ({"due_after": "2030-01-10T00:00:00Z"}, {"t4", "t7"}),
    ({"due_after": "2030-01-10T01:00:00+02:00"}, {"t1", "t4", "t7"}),
    ({"due_after": "2030-01-02T00:00:00Z", "due_before": "2030-01-15T00:00:00Z"}, {"t1", "t2"}),
    ({"q": "balcony"}, {"t4"}),
    ({"q": "TAXES"}, {"t5"}),
    ({"q": "  numbers "}, {"t1"}),
    ({"q": "no such words"}, set()),
    ({"completed": "false", "priority": "urgent,high", "tag": "work"}, {"t7"}),
])
def test_list_filters(seven_tasks, params, expected):
    api, tasks = seven_tasks
    page = api.list_ok(params)
    assert _names(tasks, page["items"]) == expected, f"{params}"
    assert page["next_cursor"] is None


def test_list_sorts(seven_tasks):
    api, tasks = seven_tasks
    default = api.list_ok()["items"]
    created = [t["created_at"] for t in default]
    assert created == sorted(created, reverse=True), "newest first by default"
    by_prio = api.list_ok({"sort": "priority"})["items"]
    ranks = [PRIORITY_RANK[t["priority"]] for t in by_prio]
    assert ranks == sorted(ranks, reverse=True), "priority sorts most urgent first by default"
    asc = [PRIORITY_RANK[t["priority"]] for t in api.list_ok({"sort": "priority", "order": "asc"})["items"]]
    assert asc == sorted(asc)
    titles = [t["title"] for t in api.list_ok({"sort": "title"})["items"]]
    assert titles == ["Alpha report", "beta groceries", "delta plants", "Epsilon taxes", "Eta backup", "Gamma call", "zeta"]
    desc = [t["title"] for t in api.list_ok({"sort": "title", "order": "desc"})["items"]]
    assert desc == list(reversed(titles))
    due = [t["due_date"] for t in api.list_ok({"sort": "due_date"})["items"]]
    dated = [d for d in due if d is not None]
    assert dated == sorted(dated) and due[len(dated):] == [None, None], f"no due date sorts last ascending: {due}"
    due_desc = [t["due_date"] for t in api.list_ok({"sort": "due_date", "order": "desc"})["items"]]
    assert due_desc == list(reversed(due))


@pytest.mark.parametrize("params", [{}, {"sort": "due_date"}, {"sort": "title", "order": "desc"}, {"sort": "priority", "completed": "false"}])
def test_cursor_pages_cover_the_list_exactly_once_in_order(seven_tasks, params):
    api, tasks = seven_tasks
    whole = [t["id"] for t in api.list_ok({**params, "limit": 100})["items"]]
    paged, cursor, pages = [], None, 0
    while True:
        page = api.list_ok({**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= 2
        paged += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "next_cursor never ends"
    assert paged == whole, "pages, joined, are the whole list in the same order"
    assert pages == max(1, -(-len(whole) // 2))


def test_cursors_are_bound_to_their_query_and_tamper_evident(seven_tasks, user_b):
    api, _ = seven_tasks
    cursor = api.list_ok({"limit": 2})["next_cursor"]
    assert cursor
    assert_problem(api.list({"limit": 2, "cursor": cursor, "completed": "true"}), 400, "cursor")
    assert_problem(api.list({"limit": 2, "cursor": cursor, "sort": "title"}), 400, "cursor")
    tampered = ("A" if cursor[0] != "A" else "B") + cursor[1:]
    assert_problem(api.list({"limit": 2, "cursor": tampered}), 400, "cursor")
    assert_problem(user_b.list({"limit": 2, "cursor": cursor}), 400, "cursor")
    assert api.list({"limit": 3, "cursor": cursor}).status_code == 200, "the page size may change between pages"


@pytest.mark.parametrize("params,name", [
    # The whole table: crates/tasks domain_tests.rs every_bad_list_parameter_is_named.
    ({"limit": "101"}, "limit"),
    ({"cursor": "garbage"}, "cursor"),
    ({"colour": "red"}, "colour"),
])
def test_bad_list_parameters_are_400_naming_them(user_a, params, name):
    assert_problem(user_a.list(params), 400, name)


def test_list_problem_is_problem_json_even_for_several_parameters(user_a):
    r = user_a.list({"limit": "0", "sort": "size"})
    body = assert_problem(r, 400, "limit", "sort")
    assert r.headers["content-type"].startswith(PROBLEM) and len(body["errors"]) >= 2


def test_an_email_reminder_needs_an_email_in_the_token(stack, token_for):
    """The address of an email reminder is the `email` claim of the token that sets it."""
    user = f"e2e-{uuid.uuid4()}"
    no_email = Api(stack.host_url, token_for(user, email=None), user)
    r = no_email.call("POST", "/api/tasks", json={"title": "x", "reminders": [{"remind_at": "2030-01-01T10:00:00Z", "channel": "email"}]})
    assert_problem(r, 400, "/reminders/0/channel")
    t = no_email.create(title="x", reminders=[{"remind_at": "2030-01-01T10:00:00Z"}])
    assert t["reminders"][0]["email"] is None

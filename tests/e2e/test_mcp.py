"""The task API's MCP tools at /mcp, driven by the official MCP Python SDK (`mcp`, Streamable HTTP
transport, bearer token on every request): the handshake, the seven tools and their input schemas,
every tool end to end, tool errors that name the field, isolation between users, and the HTTP
details of the transport (401, 405 for GET, 202 for notifications)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, KNOWN_PROTOCOL_VERSIONS

from clients import describe, mcp_client, structured

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = yaml.safe_load((ROOT / "contracts" / "openapi" / "task-api.openapi.yaml").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]
TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task", "set_reminder", "list_reminders"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def list_params() -> set[str]:
    names = set()
    for p in OPENAPI["paths"]["/api/tasks"]["get"]["parameters"]:
        if "$ref" in p:
            p = OPENAPI["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        names.add(p["name"])
    return names


def error_text(result) -> str:
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    text = " ".join(c.text for c in result.content if c.type == "text")
    assert text, "a tool error explains itself in text content"
    return text


# --- the session and the tool list ---------------------------------------------------------------------


async def test_initialize_negotiates_a_version_and_advertises_tools(stack, user_a):
    async with mcp_client(stack.host_url, user_a.token) as client:
        assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        assert client.server_capabilities.tools is not None, "the server advertises the tools capability"
        assert client.server_info is not None and client.server_info.name


async def test_the_sdks_default_connect_mode_works_too(stack, user_a):
    """The SDK's default first probes `server/discover` (a newer protocol) and falls back to initialize."""
    async with mcp_client(stack.host_url, user_a.token, mode="auto") as client:
        assert client.protocol_version in KNOWN_PROTOCOL_VERSIONS
        assert TOOLS <= {t.name for t in (await client.list_tools()).tools}


async def test_tools_list_has_the_seven_tools_with_input_schemas(stack, user_a):
    async with mcp_client(stack.host_url, user_a.token) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        schema = tool.input_schema
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", name
        assert tool.description, f"{name} has a description for the model"
    props = {name: set(t.input_schema.get("properties", {})) for name, t in tools.items()}
    required = {name: set(t.input_schema.get("required", [])) for name, t in tools.items()}
    assert set(SCHEMAS["CreateTask"]["properties"]) <= props["add_task"] and required["add_task"] == {"title"}
    assert {"task_id"} | set(SCHEMAS["UpdateTask"]["properties"]) <= props["update_task"]
    assert list_params() <= props["list_tasks"] and required["list_tasks"] == set()
    assert {"task_id", "remind_at", "before_minutes", "channel"} <= props["set_reminder"]
    assert {"state", "task_id", "order", "limit", "cursor"} <= props["list_reminders"] and required["list_reminders"] == set()
    for name in ("complete_task", "delete_task", "update_task", "set_reminder"):
        assert "task_id" in required[name], f"{name} requires task_id"
    assert tools["add_task"].input_schema["properties"]["priority"].get("enum", None) in (None, ["low", "normal", "high", "urgent"])


# --- every tool, end to end ------------------------------------------------------------------------------


async def test_every_tool_end_to_end(stack, user_a):
    marker = f"mcp-{uuid.uuid4().hex[:8]}"
    async with mcp_client(stack.host_url, user_a.token) as client:
        task = structured(await client.call_tool("add_task", {
            "title": f"  Call the plumber {marker} ",
            "priority": "high",
            "tags": ["Home"],
            "due_date": "2030-04-01T10:00:00+02:00",
            "timezone": "Europe/Berlin",
        }))
        tid = task["id"]
        assert (task["title"], task["tags"], task["due_date"]) == (f"Call the plumber {marker}", ["home"], "2030-04-01T08:00:00.000Z")
        assert task["user_id"] == user_a.user_id and task["version"] == 1
        rest = user_a.get(tid)
        assert rest.status_code == 200 and rest.json() == task, "MCP and REST see the same task"

        page = structured(await client.call_tool("list_tasks", {"q": marker}))
        assert [t["id"] for t in page["items"]] == [tid] and page["next_cursor"] is None
        page = structured(await client.call_tool("list_tasks", {"q": marker, "completed": True}))
        assert page["items"] == []

        updated = structured(await client.call_tool("update_task", {"task_id": tid, "title": "Plumber, urgent", "priority": "urgent", "version": 1}))
        assert (updated["title"], updated["priority"], updated["version"]) == ("Plumber, urgent", "urgent", 2)
        stale = await client.call_tool("update_task", {"task_id": tid, "title": "stale", "version": 1})
        assert error_text(stale)

        with_reminder = structured(await client.call_tool("set_reminder", {"task_id": tid, "before_minutes": 30}))
        (rem,) = with_reminder["reminders"]
        assert (rem["before_minutes"], rem["remind_at"], rem["channel"]) == (30, "2030-04-01T07:30:00.000Z", "in_app")
        absolute = structured(await client.call_tool("set_reminder", {"task_id": tid, "remind_at": "2030-03-31T18:00:00Z", "channel": "email"}))
        assert {"before_minutes": None, "remind_at": "2030-03-31T18:00:00.000Z", "channel": "email"} in [
            {k: r[k] for k in ("before_minutes", "remind_at", "channel")} for r in absolute["reminders"]
        ]

        done = structured(await client.call_tool("complete_task", {"task_id": tid}))
        assert done["completed"] is True and done["completed_at"] is not None

        deleted = structured(await client.call_tool("delete_task", {"task_id": tid}))
        assert deleted == {"deleted": tid}
        page = structured(await client.call_tool("list_tasks", {"q": marker}))
        assert page["items"] == []
    assert user_a.get(tid).status_code == 404


async def test_list_tasks_filters_sorts_and_pages(stack, user_a):
    for title, prio in (("b-mcp", "low"), ("a-mcp", "urgent"), ("c-mcp", "high")):
        user_a.create(title=title, priority=prio)
    async with mcp_client(stack.host_url, user_a.token) as client:
        page = structured(await client.call_tool("list_tasks", {"sort": "title", "order": "asc"}))
        assert [t["title"] for t in page["items"]] == ["a-mcp", "b-mcp", "c-mcp"]
        first = structured(await client.call_tool("list_tasks", {"sort": "priority", "limit": 2}))
        assert [t["priority"] for t in first["items"]] == ["urgent", "high"] and first["next_cursor"]
        rest = structured(await client.call_tool("list_tasks", {"sort": "priority", "limit": 2, "cursor": first["next_cursor"]}))
        assert [t["priority"] for t in rest["items"]] == ["low"] and rest["next_cursor"] is None


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool,arguments,field", [
    ("add_task", {"title": ""}, "title"),
    ("add_task", {"title": "x", "priority": "extreme"}, "priority"),
    ("add_task", {"title": "x", "due_date": "tomorrow"}, "due_date"),
    ("add_task", {"title": "x", "colour": "red"}, "colour"),
    ("update_task", {"task_id": "{tid}", "title": "   "}, "title"),
    ("update_task", {"task_id": "{tid}", "tags": ["x" * 51]}, "tags"),
    ("set_reminder", {"task_id": "{tid}", "before_minutes": 10}, "before_minutes"),
    ("set_reminder", {"task_id": "{tid}", "remind_at": "soon"}, "remind_at"),
    ("list_tasks", {"limit": 0}, "limit"),
    ("list_tasks", {"sort": "size"}, "sort"),
])
async def test_validation_failures_are_tool_errors_naming_the_field(stack, user_a, tool, arguments, field):
    t = user_a.create(title="no due date")
    args = {k: (t["id"] if v == "{tid}" else v) for k, v in arguments.items()}
    async with mcp_client(stack.host_url, user_a.token) as client:
        result = await client.call_tool(tool, args)
    assert field in error_text(result), f"the error names {field}: {result.content}"
    assert user_a.get(t["id"]).json() == t, "nothing changed"


@pytest.mark.parametrize("tool", ["complete_task", "delete_task", "update_task", "set_reminder"])
async def test_another_users_or_an_unknown_task_is_a_tool_error(stack, user_a, user_b, tool):
    t = user_a.create(title="A's", due_date="2030-01-01T00:00:00Z")
    extra = {"update_task": {"title": "B"}, "set_reminder": {"before_minutes": 5}}.get(tool, {})
    async with mcp_client(stack.host_url, user_b.token) as client:
        theirs = await client.call_tool(tool, {"task_id": t["id"], **extra})
        unknown = await client.call_tool(tool, {"task_id": str(uuid.uuid4()), **extra})
    assert error_text(theirs) == error_text(unknown).replace(unknown_id(unknown), t["id"]), (
        "another user's task is answered like an unknown one"
    )
    assert user_a.get(t["id"]).json() == t


def unknown_id(result) -> str:
    """The id an error text mentions, if any (so two texts can be compared with ids swapped)."""
    import re

    m = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", error_text(result))
    return m.group(0) if m else "\0"


@pytest.mark.parametrize("task_id", ["not-a-uuid", 5, None])
@pytest.mark.parametrize("tool", ["complete_task", "delete_task"])
async def test_a_malformed_task_id_is_a_tool_error_naming_it(stack, user_a, tool, task_id):
    """Bad arguments are tool errors (isError) the model can read and correct, not protocol errors."""
    args = {} if task_id is None else {"task_id": task_id}
    async with mcp_client(stack.host_url, user_a.token) as client:
        try:
            result, protocol_error = await client.call_tool(tool, args), None
        except MCPError as e:
            result, protocol_error = None, e
    assert protocol_error is None, (
        f"tools/call {tool} {args} answered JSON-RPC error {protocol_error.error.code} "
        f"{protocol_error.error.message!r}, not a tool result with isError naming task_id"
    )
    assert "task_id" in error_text(result)


async def test_an_unknown_tool_is_refused(stack, user_a):
    async with mcp_client(stack.host_url, user_a.token) as client:
        try:
            result = await client.call_tool("drop_all_tasks", {})
        except MCPError as e:
            assert e.error.code in (-32601, -32602), e.error
        else:
            assert result.is_error, "an unknown tool is an error"


# --- the transport over plain HTTP -----------------------------------------------------------------------

RPC_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def rpc(stack, token, body, **headers) -> requests.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{stack.host_url}/mcp", data=json.dumps(body), headers={**RPC_HEADERS, **auth, **headers}, timeout=30)


def test_mcp_without_a_valid_token_is_401(stack, jwt_secret):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}}
    for token in (None, "garbage", "a.b.c"):
        r = rpc(stack, token, init)
        assert r.status_code == 401, describe(r)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), describe(r)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add_task", "arguments": {"title": "x"}}}
    assert rpc(stack, None, call).status_code == 401


@pytest.mark.smoke
def test_mcp_over_plain_json_rpc(stack, user_a):
    init = rpc(stack, user_a.token, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}}})
    assert init.status_code == 200 and init.headers["content-type"].startswith("application/json"), describe(init)
    body = init.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 1 and "tools" in body["result"]["capabilities"], body
    version = body["result"]["protocolVersion"]
    extra = {"MCP-Protocol-Version": version}
    session = init.headers.get("mcp-session-id")
    if session:
        extra["Mcp-Session-Id"] = session
    note = rpc(stack, user_a.token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **extra)
    assert note.status_code == 202, describe(note)
    listed = rpc(stack, user_a.token, {"jsonrpc": "2.0", "id": "two", "method": "tools/list"}, **extra)
    assert listed.status_code == 200 and listed.json()["id"] == "two", describe(listed)
    assert {t["name"] for t in listed.json()["result"]["tools"]} == TOOLS
    unknown = rpc(stack, user_a.token, {"jsonrpc": "2.0", "id": 3, "method": "prompts/everything"}, **extra)
    assert unknown.status_code == 200 and unknown.json()["error"]["code"] == -32601, describe(unknown)
    call = rpc(stack, user_a.token, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                     "params": {"name": "add_task", "arguments": {"title": "plain rpc"}}}, **extra)
    assert call.status_code == 200, describe(call)
    result = call.json()["result"]
    assert result.get("isError") in (None, False) and result["structuredContent"]["title"] == "plain rpc"
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]


def test_get_on_mcp_is_405(stack, user_a):
    r = requests.get(f"{stack.host_url}/mcp", headers={"Authorization": f"Bearer {user_a.token}", "Accept": "text/event-stream"}, timeout=30)
    assert r.status_code == 405, describe(r)

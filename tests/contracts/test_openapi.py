"""The OpenAPI 3.1 document of the REST API (contracts/openapi/task-api.openapi.yaml) is valid, its
examples match its schemas, and it says what the Rust code does: field names, query parameters,
enum values and limits are read out of crates/tasks and crates/events and compared, so a change on
either side that is not made on the other fails here."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import rust_source as rs

DOC_PATH = rs.ROOT / "contracts" / "openapi" / "task-api.openapi.yaml"
DOC_URI = "urn:todo-events:task-api-openapi"
T = rs.TASKS_SRC
AUDIT = rs.ROOT / "components" / "audit" / "src"  # the audit log's SQL, rows and query
E = rs.EVENTS_SRC
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))


def schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def props(doc: dict, name: str) -> list[str]:
    return list(schema(doc, name)["properties"])


def query_params(doc: dict, path: str, method: str) -> list[str]:
    names = []
    for p in doc["paths"][path][method].get("parameters", []):
        if "$ref" in p:
            p = resolve(doc, p["$ref"])
        if p["in"] == "query":
            names.append(p["name"])
    return names


def resolve(doc: dict, ref: str):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def drift(rust: list[str], openapi: list[str]) -> list[str]:
    """What differs between two lists of names (order ignored); empty when they agree."""
    out = []
    if missing := sorted(set(rust) - set(openapi)):
        out.append(f"in the Rust code but not in the OpenAPI document: {missing}")
    if extra := sorted(set(openapi) - set(rust)):
        out.append(f"in the OpenAPI document but not in the Rust code: {extra}")
    if len(set(openapi)) != len(openapi):
        out.append(f"duplicates in the OpenAPI document: {openapi}")
    return out


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, op


# --- the document itself -------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1."), "the document declares OpenAPI 3.1"
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_validator_rejects_a_broken_document(doc):
    """The validity check above can fail: a response without its required description does."""
    broken = copy.deepcopy(doc)
    del broken["paths"]["/api/tasks/{id}"]["delete"]["responses"]["204"]["description"]
    assert not OpenAPIV31SpecValidator(_schema_path(broken)).is_valid()


def _schema_path(spec: dict):
    from jsonschema_path import SchemaPath

    return SchemaPath.from_dict(spec)


def _examples(doc: dict):
    """(where, schema pointer, example value) of every media-type example in the document."""
    for path, method, op in operations(doc):
        esc = path.replace("~", "~0").replace("/", "~1")
        media = []
        if "requestBody" in op:
            media += [(f"paths/{esc}/{method}/requestBody/content", op["requestBody"]["content"])]
        for code, resp in op["responses"].items():
            if "$ref" in resp:
                ref = resp["$ref"].removeprefix("#/")
                resp = resolve(doc, resp["$ref"])
                base = ref + "/content"
            else:
                base = f"paths/{esc}/{method}/responses/{code}/content"
            if "content" in resp:
                media.append((base, resp["content"]))
        for base, content in media:
            for mtype, m in content.items():
                pointer = f"#/{base}/{mtype.replace('/', '~1')}/schema"
                for name, ex in m.get("examples", {}).items():
                    if "$ref" in ex:
                        ex = resolve(doc, ex["$ref"])
                    yield f"{method.upper()} {path} {mtype} example {name}", pointer, ex["value"]


def _validator(doc: dict, pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    return Draft202012Validator(
        {"$ref": DOC_URI + pointer}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def test_every_example_matches_its_schema(doc):
    seen = 0
    for where, pointer, value in _examples(doc):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(doc, pointer).iter_errors(value)]
        assert not errors, f"{where} does not match its schema: {errors}"
        seen += 1
    assert seen >= 8, f"only {seen} examples found; the walk over the document is broken"


def test_schemas_reject_what_the_api_refuses(doc):
    """The schemas are strict where the API is: unknown fields, bad enums, missing title."""
    create = _validator(doc, "#/components/schemas/CreateTask")
    assert create.is_valid({"title": "x"})
    assert not create.is_valid({"title": "x", "bogus": 1}), "unknown fields are refused"
    assert not create.is_valid({"priority": "high"}), "title is required"
    assert not create.is_valid({"title": "x", "priority": "extreme"})
    assert not create.is_valid({"title": "x" * 201})
    task = _validator(doc, "#/components/schemas/Task")
    example = doc["components"]["examples"]["Task"]["value"]
    assert task.is_valid(example)
    assert not task.is_valid({**example, "estimate": 3}), "a field the API does not send"
    assert not task.is_valid({**example, "created_at": "2026-05-01T08:00:00Z"}), "instants carry milliseconds"
    assert not task.is_valid({k: v for k, v in example.items() if k != "due_date"}), "every field is present"


# --- agreement with the Rust code ----------------------------------------------------------------

FIELD_CASES = [
    # (schema, Rust source of the names)
    ("CreateTask", lambda: rs.str_list_const(T / "create.rs", "CreateTask", "FIELDS")),
    ("UpdateTask", lambda: rs.str_list_const(T / "update.rs", "UpdateTask", "FIELDS")),
    ("ReminderInput", lambda: rs.str_list_const(T / "reminders.rs", "ReminderInput", "FIELDS")),
    ("Task", lambda: rs.struct_fields(T / "task.rs", "Task")),
    ("Reminder", lambda: rs.struct_fields(T / "task.rs", "Reminder")),
    ("TaskPage", lambda: rs.struct_fields(T / "sql" / "decode.rs", "TaskPage")),
    ("AuditEntry", lambda: rs.struct_fields(AUDIT / "log.rs", "AuditEntry")),
    ("AuditPage", lambda: rs.struct_fields(AUDIT / "log.rs", "AuditPage")),
    ("FieldError", lambda: rs.struct_fields(rs.ROOT / "crates" / "problem" / "src" / "lib.rs", "FieldError")),
    ("ReminderView", lambda: rs.struct_fields(rs.ROOT / "crates" / "reminders" / "src" / "list.rs", "ReminderView")),
    ("ReminderPage", lambda: rs.struct_fields(rs.ROOT / "crates" / "reminders" / "src" / "list.rs", "ReminderPage")),
]


@pytest.mark.parametrize("name,rust", FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_schema_fields_match_the_rust_code(doc, name, rust):
    assert drift(rust(), props(doc, name)) == [], f"components/schemas/{name} and the Rust code disagree"


def test_task_response_schemas_require_every_field(doc):
    """The API always sends every Task/Reminder field (null when empty), and nothing else."""
    for name in ("Task", "Reminder", "TaskPage", "AuditPage", "ReminderView", "ReminderPage"):
        s = schema(doc, name)
        assert sorted(s["required"]) == sorted(s["properties"]), f"{name}: required != properties"
        assert s["additionalProperties"] is False, f"{name} must not allow other fields"
    for name in ("CreateTask", "UpdateTask", "ReminderInput"):
        assert schema(doc, name)["additionalProperties"] is False, f"{name}: the API refuses unknown fields"


def test_query_parameters_match_the_rust_parsers(doc):
    tasks = rs.str_list_const(T / "query.rs", "ListQuery", "PARAMS")
    audit = rs.str_list_const(AUDIT / "query.rs", "AuditQuery", "PARAMS")
    assert drift(tasks, query_params(doc, "/api/tasks", "get")) == []
    assert drift(audit, query_params(doc, "/api/audit", "get")) == []
    reminders = rs.str_list_const(rs.ROOT / "crates" / "reminders" / "src" / "list.rs", "ReminderQuery", "PARAMS")
    assert drift(reminders, query_params(doc, "/api/reminders", "get")) == []


def test_enums_match_the_rust_code(doc):
    assert schema(doc, "Priority")["enum"] == rs.enum_values(E / "types.rs", "Priority")
    assert schema(doc, "Channel")["enum"] == rs.enum_values(E / "types.rs", "Channel")
    event_types = schema(doc, "AuditEntry")["properties"]["event_type"]["enum"]
    assert event_types == rs.enum_values(E / "types.rs", "TaskEventType")
    sort = next(p for p in doc["paths"]["/api/tasks"]["get"]["parameters"] if p.get("name") == "sort")
    assert sort["schema"]["enum"] == ["due_date", "priority", "created", "title"]


def test_limits_match_the_rust_code(doc):
    task, create, update = schema(doc, "Task")["properties"], schema(doc, "CreateTask")["properties"], schema(doc, "UpdateTask")["properties"]
    reminder_in = schema(doc, "ReminderInput")["properties"]
    params = doc["components"]["parameters"]
    title_max = rs.int_const(T / "task.rs", "TITLE_MAX")
    for props_ in (task, create, update):
        assert props_["title"]["maxLength"] == title_max
        assert props_["description"]["maxLength"] == rs.int_const(T / "task.rs", "DESCRIPTION_MAX")
        assert props_["tags"]["items"]["maxLength"] == rs.int_const(T / "task.rs", "TAG_MAX")
        assert props_["reminders"]["maxItems"] == rs.int_const(T / "task.rs", "REMINDERS_MAX")
        assert props_["timezone"]["maxLength"] == rs.int_const(T / "time.rs", "TIMEZONE_MAX")
        assert props_["recurrence"]["maxLength"] == rs.int_const(T / "recurrence" / "parse.rs", "RULE_MAX")
    assert task["tags"]["maxItems"] == rs.int_const(T / "task.rs", "TAGS_MAX")
    assert task["user_id"]["maxLength"] == rs.int_const(rs.ROOT / "crates" / "auth" / "src" / "jwt.rs", "SUB_MAX")
    before_max = rs.int_const(T / "task.rs", "BEFORE_MINUTES_MAX")
    assert reminder_in["before_minutes"]["maximum"] == before_max
    assert schema(doc, "Reminder")["properties"]["before_minutes"]["maximum"] == before_max
    assert params["Limit"]["schema"]["maximum"] == rs.int_const(T / "query.rs", "LIMIT_MAX")
    assert params["Limit"]["schema"]["default"] == rs.int_const(T / "query.rs", "LIMIT_DEFAULT")
    assert params["Cursor"]["schema"]["maxLength"] == rs.int_const(rs.ROOT / "crates" / "cursor" / "src" / "lib.rs", "CURSOR_MAX")
    q = next(p for p in doc["paths"]["/api/tasks"]["get"]["parameters"] if p.get("name") == "q")
    assert q["schema"]["maxLength"] == rs.int_const(T / "query.rs", "Q_MAX")
    body_max = rs.int_const(rs.ROOT / "crates" / "http" / "src" / "lib.rs", "BODY_MAX_BYTES")
    assert str(body_max) in doc["components"]["responses"]["PayloadTooLarge"]["description"]
    assert str(body_max) in doc["info"]["description"]


def test_problem_details_match_the_rust_code(doc):
    content_type = rs.str_const(rs.ROOT / "crates" / "problem" / "src" / "lib.rs", "PROBLEM_CONTENT_TYPE")
    assert content_type == PROBLEM
    type_base = rs.str_const(rs.ROOT / "crates" / "problem" / "src" / "lib.rs", "PROBLEM_TYPE_BASE")
    for name, resp in doc["components"]["responses"].items():
        assert list(resp["content"]) == [PROBLEM], f"response {name} is problem details"
        for ex in resp["content"][PROBLEM].get("examples", {}).values():
            assert ex["value"]["type"].startswith(type_base), f"{name}: type URI under {type_base}"
    assert schema(doc, "Problem")["required"] == ["type", "title", "status", "detail"]
    assert "errors" in schema(doc, "Problem")["properties"]


def test_drift_check_fails_when_the_two_sides_differ(doc):
    """The comparisons above can fail: a field added in Rust, or dropped from the document, is named."""
    rust = rs.str_list_const(T / "create.rs", "CreateTask", "FIELDS")
    assert "due_date" in rust and len(rust) >= 9
    assert drift(rust + ["estimate_minutes"], props(doc, "CreateTask")) == [
        "in the Rust code but not in the OpenAPI document: ['estimate_minutes']"
    ]
    mutated = copy.deepcopy(doc)
    del mutated["components"]["schemas"]["Task"]["properties"]["due_date"]
    assert drift(rs.struct_fields(T / "task.rs", "Task"), props(mutated, "Task")) == [
        "in the Rust code but not in the OpenAPI document: ['due_date']"
    ]


def test_rust_readers_fail_loudly_on_missing_items(tmp_path: Path):
    src = tmp_path / "x.rs"
    src.write_text("pub struct Other {\n    pub a: u8,\n}\n")
    with pytest.raises(LookupError):
        rs.struct_fields(src, "Task")
    with pytest.raises(LookupError):
        rs.str_list_const(src, "Task", "FIELDS")
    src.write_text('pub struct Task {\n    #[serde(skip_serializing)]\n    pub seq: i64,\n    #[serde(rename = "b")]\n    pub a: u8,\n    #[serde(skip_serializing_if = "x")]\n    pub c: u8,\n}\n')
    assert rs.struct_fields(src, "Task") == ["b", "c"]


# --- the shape of every operation ----------------------------------------------------------------


def test_every_operation_is_authenticated_and_documents_its_errors(doc):
    assert doc["security"] == [{"bearerAuth": []}]
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    ops = list(operations(doc))
    assert {(p, m) for p, m, _ in ops} == {
        ("/api/tasks", "post"), ("/api/tasks", "get"), ("/api/tasks/{id}", "get"),
        ("/api/tasks/{id}", "patch"), ("/api/tasks/{id}", "delete"),
        ("/api/tasks/{id}/complete", "post"), ("/api/tasks/{id}/reopen", "post"), ("/api/audit", "get"),
        ("/api/reminders", "get"), ("/api/dead-letters", "get"), ("/api/dead-letters/redrive", "post"),
        ("/api/dead-letters/{id}", "get"), ("/api/dead-letters/{id}/redrive", "post"),
        ("/api/dead-letters/{id}/discard", "post"),
    }
    unauthorized = doc["components"]["responses"]["Unauthorized"]
    assert unauthorized["headers"]["WWW-Authenticate"]["$ref"].endswith("/WWW-Authenticate")
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        codes = set(op["responses"])
        assert "security" not in op, f"{where} must not override the global bearer auth"
        assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}, where
        assert "operationId" in op, where
        if "requestBody" in op:
            assert list(op["requestBody"]["content"]) == ["application/json"], where
            assert {"400", "413", "415"} <= codes, f"{where} documents 400, 413 and 415"
        if "{id}" in path:
            assert "404" in codes, f"{where} documents 404 (unknown or another user's task)"
        if method == "get" and "{id}" not in path:
            assert "400" in codes, f"{where} refuses bad query parameters with 400"
    created = doc["paths"]["/api/tasks"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    assert "409" in doc["paths"]["/api/tasks/{id}"]["patch"]["responses"]
    assert list(doc["paths"]["/api/tasks/{id}"]["delete"]["responses"]["204"]) == ["description"]

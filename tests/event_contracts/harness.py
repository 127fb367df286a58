"""Helpers of the event-contract property tests: the checker's rule pairs, instance generation
from a JSON Schema, and the services' consumer path built with any schema.

- Pairs: `tools/contracts/tests/pairs/*.json`, the same files the checker's Rust rule tests read
  (old schema, new schema, expected change lines, bump, examples). `{"$file": ..., "$patch": [...]}`
  is a repository file with a JSON Patch applied, resolved here as in `tests/common/mod.rs`.
- Generation: schemathesis's JSON Schema generator (the maintained engine behind
  `tests/e2e/test_fuzz_api.py`), through its public Python API: the schema becomes the request
  body of a one-operation OpenAPI 3.1 document (whose schemas are JSON Schema 2020-12) and
  `operation.as_strategy()` draws bodies. Its patterns and formats follow jsonschema-rs, the
  Python binding of the `jsonschema` crate the services validate with.
- Consumer: `todo-contracts accepts --schema FILE [--as TOPIC]`, which runs the `todo-events`
  crate's consumer path (envelope, version policy, schema, typed decoding) built with FILE.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "tools" / "contracts" / "tests" / "pairs"

# Versions the property test gives the two sides of a pair: the old one is released as 1.0.0, the
# new one as the smallest version its bump allows.
OLD_VERSION = "1.0.0"
NEW_VERSION = {"PATCH": "1.0.1", "MINOR": "1.1.0", "MAJOR": "2.0.0"}


# --- pairs ------------------------------------------------------------------------------------------


def resolve(value):
    """A pair value with `{"$file": <repository path>, "$patch": [<RFC 6902 op>]}` resolved."""
    if not (isinstance(value, dict) and "$file" in value):
        return copy.deepcopy(value)
    doc = json.loads((ROOT / value["$file"]).read_text())
    for op in value.get("$patch", []):
        parent_pointer, _, last = op["path"].rpartition("/")
        last = last.replace("~1", "/").replace("~0", "~")
        parent = doc
        for token in [t for t in parent_pointer.split("/") if t]:
            token = token.replace("~1", "/").replace("~0", "~")
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        if isinstance(parent, list):
            if op["op"] == "add":
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            elif op["op"] == "replace":
                parent[int(last)] = op["value"]
            else:
                del parent[int(last)]
        elif op["op"] in ("add", "replace"):
            if op["op"] == "replace":
                assert last in parent, f"replace {op['path']}: nothing there"
            parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[last]
        else:
            raise AssertionError(f"patch op {op['op']} is not supported")
    return doc


def load_pairs() -> list[dict]:
    """Every pair of every pair file, `$file`s resolved, each with its `group` (file stem)."""
    out = []
    for path in sorted(PAIRS.glob("*.json")):
        for p in json.loads(path.read_text())["pairs"]:
            pair = dict(p, group=path.stem, old=resolve(p["old"]), new=resolve(p["new"]))
            examples = p.get("examples", {})
            pair["examples"] = {side: [resolve(e) for e in examples.get(side, [])] for side in ("old", "new")}
            out.append(pair)
    assert out, f"no pairs in {PAIRS}"
    return out


# --- schemas as producers and consumers see them ---------------------------------------------------


def closed(schema):
    """`schema` as producers use it: an object schema that declares `properties` and leaves
    undeclared ones open (no `additionalProperties`/`unevaluatedProperties`, or `true`) gets
    `additionalProperties: false`. Producers send only the fields their
    schema version declares (the Rust producers serialise exactly their types' fields), so a
    generated event never carries a field a later version could define differently.

    Closing only restricts monotonic keywords; under `oneOf` or `not` it can admit an instance
    the open schema refuses, which the tests' own-consumer check reports."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    open_to_any = all(out.get(k, True) in (True, {}) for k in ("additionalProperties", "unevaluatedProperties"))
    if "properties" in out and open_to_any and "patternProperties" not in out:
        out.pop("unevaluatedProperties", None)
        out["additionalProperties"] = False
    return out


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for v in node.values():
            found |= _refs(v)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def enveloped(schema, version: str) -> dict:
    """A pair's (non-event) schema as the consumer schema of an event that carries the instance:
    `{"schema_version": ..., "payload": <instance>}`, with the pair's `$defs` at the root so its
    local `#/$defs/...` references still resolve. `version` is the schema's `x-schema-version`."""
    schema = copy.deepcopy(schema)
    defs = {}
    if isinstance(schema, dict):
        for key in ("$defs", "definitions"):
            if key in schema:
                defs[key] = schema.pop(key)
        schema.pop("$schema", None)
    bad = {r for r in _refs(schema) | _refs(defs) if not r.startswith(("#/$defs/", "#/definitions/"))}
    assert not bad, f"references the envelope cannot keep: {sorted(bad)}"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-schema-version": version,
        "type": "object",
        "required": ["schema_version", "payload"],
        "properties": {"schema_version": {"type": "string"}, "payload": schema},
        **defs,
    }


def versioned(schema: dict, version: str) -> dict:
    return dict(schema, **{"x-schema-version": version})


# --- generation -----------------------------------------------------------------------------------------


def _as_components(node):
    """Local references moved from `#/$defs/` (and `#/definitions/`) to OpenAPI's components."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                v = v.replace("#/$defs/", "#/components/schemas/").replace("#/definitions/", "#/components/schemas/")
            out[k] = _as_components(v)
        return out
    if isinstance(node, list):
        return [_as_components(v) for v in node]
    return node


def strategy(schema):
    """A Hypothesis strategy of instances of `schema` (JSON Schema 2020-12), from schemathesis's
    generator. Fails (rather than skipping) when schemathesis cannot model the schema."""
    import schemathesis

    body = copy.deepcopy(schema)
    components = {}
    if isinstance(body, dict):
        for key in ("$defs", "definitions"):
            components.update(body.pop(key, {}))
        for key in ("$schema", "$id", "x-schema-version"):
            body.pop(key, None)
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "event contract", "version": "1"},
        "paths": {
            "/events": {
                "post": {
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _as_components(body)}}},
                    "responses": {"200": {"description": "accepted"}},
                }
            }
        },
        "components": {"schemas": _as_components(components)},
    }
    operation = schemathesis.openapi.from_dict(doc)["/events"]["POST"]
    return operation.as_strategy().map(lambda case: copy.deepcopy(case.body))


def generate(schema, count: int, seed: int) -> list:
    """`count` instances of `schema` (repeats possible in a small domain). A schema the generator
    cannot generate for raises: a pair is never skipped."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st

    found: list = []

    # The integer keeps Hypothesis from stopping early once a small domain (a two-value enum) is
    # exhausted, so every run draws `count` instances.
    @with_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(strategy(schema), st.integers())
    def draw(instance, _nonce):
        found.append(instance)

    draw()
    assert len(found) >= count, f"the generator made {len(found)} of {count} instances"
    return found


def property_seed() -> int:
    """The generation seed: fixed, so CI runs are repeatable; TODO_PROPERTY_SEED picks another."""
    return int(os.environ.get("TODO_PROPERTY_SEED", "20260106"))


# --- the consumer path ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def accepts_binary() -> Path:
    """The `todo-contracts` binary, built with cargo (TODO_CONTRACTS_BIN overrides)."""
    if os.environ.get("TODO_CONTRACTS_BIN"):
        return Path(os.environ["TODO_CONTRACTS_BIN"])
    p = subprocess.run(
        ["cargo", "build", "-q", "-p", "todo-contracts", "--bin", "todo-contracts", "--message-format=json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if p.returncode != 0:
        pytest.fail(f"cargo build -p todo-contracts failed:\n{p.stderr}", pytrace=False)
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "todo-contracts":
            return Path(msg["executable"])
    pytest.fail("cargo build did not report the todo-contracts executable", pytrace=False)


def consumer_decisions(schema: dict, events: list, topic: str | None = None) -> list[dict]:
    """What a consumer built with `schema` answers for each event (`todo-contracts accepts`):
    `{"decision": "SUCCESS", "version": ...}` or `{"decision": "DROP", "reason": ...}`."""
    with tempfile.NamedTemporaryFile("w", suffix=".schema.json", delete=False) as f:
        json.dump(schema, f)
        path = f.name
    try:
        args = [str(accepts_binary()), "accepts", "--schema", path] + (["--as", topic] if topic else [])
        lines = "".join(json.dumps(e) + "\n" for e in events)
        p = subprocess.run(args, input=lines, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    assert p.returncode == 0, f"todo-contracts accepts failed ({p.returncode}): {p.stderr[-2000:]}"
    # split on "\n" only: a decision's reason may quote U+2028 or U+0085, which splitlines() splits on
    out = [json.loads(line) for line in p.stdout.split("\n") if line]
    assert len(out) == len(events), f"{len(out)} decisions for {len(events)} events"
    return out

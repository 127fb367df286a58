"""Every event the working schemas accept, the services accept (issue 7, points 2 and 6).

Events are generated from each topic's working schema, as it is (undeclared fields included, which
consumers must ignore; optional fields absent, null or set), stamped with the schema's version, and
run through the consumer path built with that schema *and* decoded into the topic's Rust type
(`todo-contracts accepts --as <topic>`), as the services do. A field the schema allows but the
Rust type cannot hold (a null list, an integer written `30.0`, a number beyond the Rust type's
range) would be dropped here.
"""

from __future__ import annotations

import json

import pytest

from harness import ROOT, consumer_decisions, generate, property_seed

TOPICS = ["task-events", "reminders", "task-updates"]
COUNT = 200
SUMMARY: list[str] = []


@pytest.mark.parametrize("topic", TOPICS)
def test_every_event_the_schema_accepts_decodes_into_the_rust_type(topic):
    schema = json.loads((ROOT / "contracts" / "events" / f"{topic}.schema.json").read_text())
    version = schema["x-schema-version"]
    assert (ROOT / "contracts" / "events" / "releases" / topic / f"{version}.schema.json").is_file(), version
    events = [dict(e, schema_version=version) for e in generate(schema, COUNT, property_seed())]
    decisions = consumer_decisions(schema, events, topic)
    dropped = [(e, d) for e, d in zip(events, decisions) if d["decision"] != "SUCCESS"]
    shown = "\n".join(f"  {json.dumps(e)[:400]}\n    -> {d['reason']}" for e, d in dropped[:3])
    assert not dropped, f"{topic}: {len(dropped)} of {len(events)} schema-valid events are dropped:\n{shown}"
    SUMMARY.append(f"{topic} {version}: {len(events)} generated events, all accepted and decoded into the Rust type")

"""The seed's events in the example corpus are the seed's events, unchanged (issue 7, point 1),
and v1.0.0 accepts the valid ones and refuses the invalid one as the seed's own contract test
does (`jsonschema.validate`, here with formats checked too).

The corpus files are `contracts/events/examples/task-events/{valid,invalid}/seed-*.json`; the
Rust tests (`crates/events/tests/examples.rs`) run the same files through the consumer path.
"""

from __future__ import annotations

import json
import re
import uuid

import jsonschema
import pytest

import seed_doc

EXAMPLES = seed_doc.REPO / "contracts" / "events" / "examples" / "task-events"
SCHEMA = json.loads((seed_doc.REPO / "contracts" / "events" / "task-events.schema.json").read_text())
RELEASE = json.loads((seed_doc.REPO / "contracts" / "events" / "releases" / "task-events" / "1.0.0.schema.json").read_text())


def corpus(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def validate(event: dict) -> None:
    """The seed's check, `jsonschema.validate(event, schema)`, against the released v1.0.0."""
    jsonschema.validate(event, RELEASE, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_release_is_1_0_0_and_the_working_schema_a_later_minor_of_it():
    assert RELEASE["x-schema-version"] == "1.0.0"
    major = int(SCHEMA["x-schema-version"].split(".")[0])
    assert major == 1, SCHEMA["x-schema-version"]  # a MINOR or PATCH of 1.0.0, never a new MAJOR
    # the seed's core is still exactly what the working schema requires of task_data
    assert SCHEMA["$defs"]["task_data"]["required"] == RELEASE["$defs"]["task_data"]["required"]


def test_the_contract_test_events_are_copied_unchanged():
    valid, invalid = seed_doc.contract_test_events()
    assert corpus("valid/seed-contract-test-task-created.json") == valid
    assert corpus("invalid/seed-contract-test-missing-required-fields.json") == invalid
    validate(valid)  # "Should not raise"
    with pytest.raises(jsonschema.ValidationError):
        validate(invalid)
    errors = {e.message for e in jsonschema.Draft202012Validator(RELEASE).iter_errors(invalid)}
    errors |= {e.message for e in jsonschema.Draft202012Validator(RELEASE["$defs"]["task_data"]).iter_errors(invalid["task_data"])}
    for field in ("event_id", "user_id", "timestamp", "schema_version", "task_id", "completed", "priority"):
        assert f"'{field}' is a required property" in errors, errors


def _same_shape(built, written, path="") -> None:
    """`written` (the corpus file) is an instance of the seed's expression: same keys, the same
    constants, and where the seed computes a value (uuid4, utcnow) a value of that form."""
    assert isinstance(built, type(written)) or isinstance(written, type(built)), path
    if isinstance(built, dict):
        assert list(built) == list(written), f"{path}: keys {list(built)} != {list(written)}"
        for k in built:
            _same_shape(built[k], written[k], f"{path}/{k}")
    elif path in ("/event_id", "/task_id"):
        assert uuid.UUID(written).version == 4 and uuid.UUID(built).version == 4, path
    elif path == "/timestamp":
        iso_utcnow = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$"
        assert re.match(iso_utcnow, built) and re.match(iso_utcnow, written), (built, written)
    else:
        assert built == written, path


def test_the_integration_test_event_is_the_seeds_expression():
    event = seed_doc.integration_test_event()
    written = corpus("valid/seed-integration-test-task-created.json")
    _same_shape(event, written)
    assert re.search(r"\.\d{6}Z$", written["timestamp"]), "the corpus keeps a microsecond timestamp"
    validate(written)
    validate(event)
    assert "uuid.uuid4()" in seed_doc.integration_test_event_source()
    assert 'datetime.utcnow().isoformat() + "Z"' in seed_doc.integration_test_event_source()


def test_the_evolution_events_complete_the_seeds_examples():
    examples = seed_doc.evolution_examples()
    kinds = {"string": str, "boolean": bool, "integer": int}
    for version, name in [
        ("1.1.0", "valid/seed-schema-evolution-1.1.0-task-created.json"),
        ("2.0.0", "invalid/seed-schema-evolution-2.0.0-task-created.json"),
    ]:
        sketch, event = examples[version], corpus(name)
        assert event["event_type"] == sketch["event_type"]
        assert event["schema_version"] == version
        assert list(event["task_data"]) == list(sketch["task_data"]), name
        for field, described in sketch["task_data"].items():
            assert isinstance(event["task_data"][field], kinds[described.split()[0]]), (name, field, described)
        # the envelope is the contract test's, field for field
        valid, _ = seed_doc.contract_test_events()
        assert [k for k in event if k != "task_data"] == [k for k in valid if k != "task_data"]
    validate(corpus("valid/seed-schema-evolution-1.1.0-task-created.json"))  # unknown field, newer MINOR
    with pytest.raises(jsonschema.ValidationError, match="'priority' is a required property"):
        validate(corpus("invalid/seed-schema-evolution-2.0.0-task-created.json"))
    # the 1.0.0 sketch's core is exactly what v1.0.0 requires of task_data
    assert sorted(RELEASE["$defs"]["task_data"]["required"]) == sorted(examples["1.0.0"]["task_data"])


def test_the_seeds_publisher_is_the_dapr_sdk_call():
    source = seed_doc.publisher_source()
    assert "from dapr.clients import DaprClient" in source
    assert 'client.publish_event(\n            pubsub_name="pubsub",  # Component name (same in local and cloud)\n            topic_name="task-events",\n            data=json.dumps(event_payload)\n        )' in source
    assert callable(seed_doc.publisher())

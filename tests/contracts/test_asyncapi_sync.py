"""contracts/asyncapi.yaml is in sync with what it describes (issue 22, point 2), its examples
validate against its payloads, and the generated draft-07 payload schemas judge every example of
the corpus as the 2020-12 schemas do.

A change to one place without the other fails naming both: each test below changes a copy of the
document or of a source the way a careless edit would, and expects the mismatch message.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncapi_sync as sync  # noqa: E402

REPO = sync.REPO
EXAMPLES = REPO / "contracts" / "events" / "examples"


@pytest.fixture(scope="module")
def doc() -> dict:
    return sync.load_doc()


@pytest.fixture(scope="module")
def src() -> sync.Sources:
    return sync.load_sources()


def test_the_document_is_asyncapi_3_with_a_channel_per_topic_and_dead_letter_topic(doc, src):
    assert doc["asyncapi"].startswith("3.0.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(src.topics), sorted(addresses ^ set(src.topics))
    assert {f"{t}.dlq" for t in sync.EVENT_TOPICS} <= addresses


@pytest.mark.parametrize("check", sync.CHECKS, ids=lambda c: c.__name__)
def test_the_document_agrees_with_the_repository(doc, src, check):
    errors = check(doc, src)
    assert not errors, "\n".join(errors)


# ---- each kind of drift is caught, naming both places ----------------------------------------


def _errors(doc, src) -> str:
    return "\n".join(sync.all_errors(doc, src))


def test_a_new_topic_without_a_channel(doc, src):
    s = copy.deepcopy(src)
    s.topics["task-archive"] = 3
    assert "tools/kafka/topics.txt has topic 'task-archive', contracts/asyncapi.yaml has no channel" in _errors(doc, s)


def test_partitions_changed_in_topics_txt(doc, src):
    s = copy.deepcopy(src)
    s.topics["reminders"] = 6
    assert ("contracts/asyncapi.yaml channels.reminders (reminders) has 3 partitions, "
            "tools/kafka/topics.txt creates it with 6") in _errors(doc, s)


def test_a_route_changed_in_a_subscription(doc, src):
    s = copy.deepcopy(src)
    (sub,) = [x for x in s.subscriptions["cloud"] if x["metadata"]["name"] == "audit-task-events"]
    sub["spec"]["routes"]["default"] = "/audit/v2/events"
    assert ("contracts/asyncapi.yaml operations.auditReceivesTaskEvents x-dapr-subscription.route is '/audit/events', "
            "contracts/dapr-components/cloud/subscriptions.yaml audit-task-events has '/audit/v2/events'") in _errors(doc, s)


def test_a_new_consumer_without_an_operation(doc, src):
    s = copy.deepcopy(src)
    new = copy.deepcopy(s.subscriptions["local"][0])
    new["metadata"]["name"], new["scopes"] = "metrics-task-events", ["metrics"]
    new["spec"]["routes"]["default"] = "/metrics/events"
    s.subscriptions["local"].append(new)
    assert ("contracts/dapr-components/local/subscriptions.yaml: metrics-task-events (scope metrics) subscribes to "
            "'task-events'; contracts/asyncapi.yaml has no receive operation of metrics on it") in _errors(doc, s)


def test_a_dead_letter_topic_changed(doc, src):
    s = copy.deepcopy(src)
    (sub,) = [x for x in s.subscriptions["selfhosted"] if x["metadata"]["name"] == "realtime-task-updates"]
    sub["spec"]["deadLetterTopic"] = "task-updates.dead"
    errors = _errors(doc, s)
    assert ("x-dapr-subscription.deadLetterTopic is 'task-updates.dlq', contracts/dapr-components/selfhosted/"
            "subscriptions.yaml realtime-task-updates has 'task-updates.dead'") in errors
    assert "dead-letters to 'task-updates.dead'; contracts/asyncapi.yaml has no channel with that address" in errors


def test_a_bulk_size_changed(doc, src):
    s = copy.deepcopy(src)
    (sub,) = [x for x in s.subscriptions["local"] if x["metadata"]["name"] == "notification-reminders"]
    sub["spec"]["bulkSubscribe"]["maxMessagesCount"] = 10
    assert "contracts/dapr-components/local/subscriptions.yaml notification-reminders has {'maxMessagesCount': 10" in _errors(doc, s)


def test_a_receive_operation_nobody_subscribes(doc, src):
    d = copy.deepcopy(doc)
    d["operations"]["metricsReceivesTaskEvents"] = dict(
        copy.deepcopy(d["operations"]["auditReceivesTaskEvents"]), **{"x-dapr-app-id": "metrics"})
    assert ("contracts/asyncapi.yaml operations.metricsReceivesTaskEvents: metrics receives 'task-events', "
            "but no contracts/dapr-components/*/subscriptions.yaml subscribes it") in _errors(d, src)


def test_a_route_spin_toml_does_not_serve(doc, src):
    s = copy.deepcopy(src)
    for t in s.spin["trigger"]["http"]:
        if t["route"] == "/recurring/events":
            t["route"] = "/recurring/deliveries"
    assert ("operations.recurringReceivesTaskEvents: recurring serves '/recurring/events', "
            "but spin.toml routes it to component None") in _errors(doc, s)


def test_a_schema_bumped_without_the_document(doc, src):
    s = copy.deepcopy(src)
    s.schemas["reminders"]["x-schema-version"] = "1.1.0"
    errors = _errors(doc, s)
    assert "message x-schema-version '1.0.0', contracts/events/reminders.schema.json is '1.1.0'" in errors
    assert "contracts/asyncapi/reminders.draft-07.json is version '1.0.0', contracts/events/reminders.schema.json is '1.1.0'" in errors
    assert "info.version is 'task-events 1.1.0, reminders 1.0.0, task-updates 1.0.0', the schemas say" in errors


def test_the_cloud_broker_losing_sasl(doc, src):
    s = copy.deepcopy(src)
    for item in s.pubsub["cloud"]["spec"]["metadata"]:
        if item["name"] == "saslMechanism":
            item["value"] = "SHA-512"
    assert ("servers.cloud.security is ['scramSha256'], contracts/dapr-components/cloud/pubsub.yaml "
            "(authType password, saslMechanism SHA-512) means ['scramSha512']") in _errors(doc, s)


def test_a_sender_that_is_not_an_app_id(doc, src):
    d = copy.deepcopy(doc)
    d["operations"]["taskApiSendsTaskEvents"]["x-dapr-app-id"] = "backend"
    assert "operations.taskApiSendsTaskEvents: app-id 'backend' is not one of tools/devstack/apps.tsv's" in _errors(d, src)


# ---- the examples and the payloads ------------------------------------------------------------


def _registry() -> referencing.Registry:
    """The document's relative file references, resolved from contracts/."""
    base = REPO / "contracts"
    resources = []
    for path in [*sorted((base / "asyncapi").glob("*.json"))]:
        contents = json.loads(path.read_text())
        resources.append((f"./{path.relative_to(base)}", referencing.jsonschema.DRAFT7.create_resource(contents)))
    return referencing.Registry().with_resources(resources)


def _inline_refs(node, base: Path):
    """An example with its `$ref`s to corpus files replaced by the files (as the parser does)."""
    if isinstance(node, dict):
        if set(node) == {"$ref"} and not node["$ref"].startswith("#"):
            return json.loads((base / node["$ref"]).read_text())
        return {k: _inline_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, base) for v in node]
    return node


def _payload_schema(doc: dict, message: dict) -> dict:
    """The message's payload with the document's own `#/components/...` refs inlined."""

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/"):
                return inline(sync.resolve(doc, node))
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(message["payload"])


def _messages(doc: dict) -> list[tuple[str, dict]]:
    return list(doc["components"]["messages"].items())


def test_every_message_has_examples_from_the_corpus_that_validate(doc):
    registry = _registry()
    checked = 0
    for name, message in _messages(doc):
        examples = message.get("examples", [])
        if name != "probeDeadLetter":
            assert examples, f"contracts/asyncapi.yaml components.messages.{name} has no example"
        schema = _payload_schema(doc, message)
        validator = jsonschema.Draft7Validator(schema, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        for example in examples:
            data = example["payload"].get("data", {})
            if name not in ("probe",):
                assert set(data) == {"$ref"} and data["$ref"].startswith("./events/examples/"), (
                    f"components.messages.{name} example {example['name']!r}: data must reference the example corpus")
            payload = _inline_refs(example["payload"], REPO / "contracts")
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]
            assert not errors, f"components.messages.{name} example {example['name']!r}:\n" + "\n".join(errors)
            checked += 1
    assert checked >= 10, checked


def test_a_dead_letter_example_is_an_invalid_event_and_a_topic_example_a_valid_one(doc):
    for name, message in _messages(doc):
        for example in message.get("examples", []):
            ref = example["payload"]["data"].get("$ref", "")
            if name.endswith("DeadLetter"):
                assert "/invalid/" in ref, (name, ref)
            elif ref:
                assert "/valid/" in ref, (name, ref)


def test_an_example_that_breaks_the_payload_fails(doc):
    """The example check can fail: a task event whose data lost its title."""
    registry = _registry()
    message = doc["components"]["messages"]["taskEvent"]
    validator = jsonschema.Draft7Validator(_payload_schema(doc, message), registry=registry)
    payload = _inline_refs(message["examples"][0]["payload"], REPO / "contracts")
    del payload["data"]["task_data"]["title"]
    payload["type"] = "com.example.other"
    messages = sorted(e.message for e in validator.iter_errors(payload))
    assert any("'title' is a required property" in m for m in messages), messages
    assert any("'com.dapr.event.sent' was expected" in m for m in messages), messages


# ---- the generated draft-07 schemas judge as the 2020-12 ones -----------------------------------


def _corpus(topic: str) -> list[Path]:
    return sorted((EXAMPLES / topic).glob("*/*.json"))


@pytest.mark.parametrize("topic", sync.EVENT_TOPICS)
def test_the_draft_07_rendering_judges_every_example_as_the_2020_12_schema(topic, src):
    original = jsonschema.Draft202012Validator(src.schemas[topic], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    draft = src.drafts[topic]
    assert draft.get("$schema") == "http://json-schema.org/draft-07/schema#", f"contracts/asyncapi/{topic}.draft-07.json"
    rendered = jsonschema.Draft7Validator(draft, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    files = _corpus(topic)
    assert len(files) >= 15, files
    for path in files:
        event = json.loads(path.read_text())
        # the verdict and where it fails agree (draft-07 knows no `uuid` format, but the schemas'
        # patterns say the same, so the same instance fails at the same place)
        a = sorted({"/".join(map(str, e.absolute_path)) for e in original.iter_errors(event)})
        b = sorted({"/".join(map(str, e.absolute_path)) for e in rendered.iter_errors(event)})
        assert bool(a) == (path.parent.name == "invalid"), (path.name, a)
        assert a == b, (path.name, a, b)

"""contracts/asyncapi.yaml against the places it describes (issue 22, point 2).

Each check is a pure function of the parsed sources that returns mismatches, each naming both
places (the document's part and the file it disagrees with), so the tests run the checks on the
repository (no mismatch) and on deliberately changed copies (the mismatch each change makes).

Sources: contracts/dapr-components/<profile>/subscriptions.yaml (consumers: app-id = scope,
route, dead-letter topic, bulk settings) and pubsub.yaml (brokers, TLS and SASL, Kafka protocol
version); tools/kafka/topics.txt (topics and partitions); spin.toml (which component serves a
route); tools/devstack/apps.tsv (the app-ids); contracts/events/<topic>.schema.json (versions)
and contracts/asyncapi/<topic>.draft-07.json (the payloads, generated from them).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "contracts" / "asyncapi.yaml"
DOC_NAME = "contracts/asyncapi.yaml"
PROFILES = ("selfhosted", "local", "cloud")
EVENT_TOPICS = ("task-events", "reminders", "task-updates")


@dataclass
class Sources:
    """Everything the document must agree with, parsed."""

    subscriptions: dict[str, list[dict]]  # profile -> Subscription resources
    pubsub: dict[str, dict]  # profile -> the pubsub Component
    topics: dict[str, int]  # topics.txt: name -> partitions
    spin: dict  # spin.toml
    app_ids: set[str]  # tools/devstack/apps.tsv
    schemas: dict[str, dict]  # topic -> working schema
    drafts: dict[str, dict]  # topic -> contracts/asyncapi/<topic>.draft-07.json


def load_doc(path: Path = DOC) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_sources(repo: Path = REPO) -> Sources:
    comps = repo / "contracts" / "dapr-components"
    subs, pubsub = {}, {}
    for profile in PROFILES:
        docs = [d for d in yaml.safe_load_all((comps / profile / "subscriptions.yaml").read_text()) if d]
        subs[profile] = [d for d in docs if d.get("kind") == "Subscription"]
        pubsub[profile] = yaml.safe_load((comps / profile / "pubsub.yaml").read_text())
    topics = {}
    for line in (repo / "tools" / "kafka" / "topics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, partitions = line.split()[:2]
            topics[name] = int(partitions)
    app_ids = {
        line.split("\t")[0]
        for line in (repo / "tools" / "devstack" / "apps.tsv").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    schemas = {t: json.loads((repo / "contracts" / "events" / f"{t}.schema.json").read_text()) for t in EVENT_TOPICS}
    drafts = {}
    for t in EVENT_TOPICS:
        p = repo / "contracts" / "asyncapi" / f"{t}.draft-07.json"
        drafts[t] = json.loads(p.read_text()) if p.is_file() else {}
    return Sources(subs, pubsub, topics, tomllib.loads((repo / "spin.toml").read_text()), app_ids, schemas, drafts)


# ---- the document, read ---------------------------------------------------------------------


def resolve(doc: dict, node):
    """A local `$ref` (`#/...`) followed, once or more."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def channel_of(doc: dict, op: dict) -> dict:
    return resolve(doc, op["channel"])


def channels_by_address(doc: dict) -> dict[str, tuple[str, dict]]:
    return {c["address"]: (key, c) for key, c in doc.get("channels", {}).items()}


def operations(doc: dict, action: str) -> list[tuple[str, dict]]:
    return [(k, op) for k, op in doc.get("operations", {}).items() if op.get("action") == action]


def channel_servers(doc: dict, channel: dict) -> set[str]:
    refs = channel.get("servers")
    if not refs:
        return set(doc.get("servers", {}))
    return {r["$ref"].rsplit("/", 1)[-1] for r in refs}


def message_of(doc: dict, channel: dict) -> dict:
    (message,) = channel.get("messages", {}).values()
    return resolve(doc, message)


def payload_data_ref(doc: dict, message: dict) -> str | None:
    payload = resolve(doc, message.get("payload", {}))
    data = payload.get("properties", {}).get("data", {})
    return data.get("$ref")


# ---- the checks -------------------------------------------------------------------------------


def topic_errors(doc: dict, src: Sources) -> list[str]:
    """One channel per topic of topics.txt, address = topic, partitions as created."""
    out = []
    channels = channels_by_address(doc)
    for name, partitions in src.topics.items():
        if name not in channels:
            out.append(f"tools/kafka/topics.txt has topic {name!r}, {DOC_NAME} has no channel with that address")
            continue
        key, channel = channels[name]
        binding = channel.get("bindings", {}).get("kafka", {})
        if binding.get("partitions") != partitions:
            out.append(
                f"{DOC_NAME} channels.{key} ({name}) has {binding.get('partitions')} partitions, "
                f"tools/kafka/topics.txt creates it with {partitions}"
            )
        if binding.get("topic", name) != name:
            out.append(f"{DOC_NAME} channels.{key}: the Kafka binding's topic {binding.get('topic')!r} is not its address {name!r}")
    for address, (key, _) in channels.items():
        if address not in src.topics:
            out.append(f"{DOC_NAME} channels.{key} has address {address!r}, tools/kafka/topics.txt creates no such topic")
    return out


def consumer_errors(doc: dict, src: Sources) -> list[str]:
    """Every Subscription is a receive operation (app-id = scope, route, dead-letter topic, bulk
    settings) on its topic's channel, on the servers of the profiles that have it, with the
    dead-letter sends of that app-id; and every receive operation is a Subscription."""
    out = []
    receives = operations(doc, "receive")
    channels = channels_by_address(doc)
    seen: dict[tuple[str, str], set[str]] = {}
    for profile, subs in src.subscriptions.items():
        where = f"contracts/dapr-components/{profile}/subscriptions.yaml"
        for sub in subs:
            spec, name = sub["spec"], sub["metadata"]["name"]
            (app_id,) = sub.get("scopes", [None])
            topic, route, dlq = spec["topic"], spec["routes"]["default"], spec.get("deadLetterTopic")
            seen.setdefault((app_id, topic), set()).add(profile)
            ops = [(k, op) for k, op in receives
                   if op.get("x-dapr-app-id") == app_id and channel_of(doc, op).get("address") == topic]
            if not ops:
                out.append(f"{where}: {name} (scope {app_id}) subscribes to {topic!r}; {DOC_NAME} has no receive operation of {app_id} on it")
                continue
            key, op = ops[0]
            x = op.get("x-dapr-subscription", {})
            for field, theirs in (("name", name), ("route", route), ("deadLetterTopic", dlq)):
                if x.get(field) != theirs:
                    out.append(f"{DOC_NAME} operations.{key} x-dapr-subscription.{field} is {x.get(field)!r}, {where} {name} has {theirs!r}")
            bulk = spec.get("bulkSubscribe") or {}
            theirs = {k: bulk[k] for k in ("maxMessagesCount", "maxAwaitDurationMs") if k in bulk} if bulk.get("enabled") else None
            if x.get("bulkSubscribe") != theirs:
                out.append(f"{DOC_NAME} operations.{key} x-dapr-subscription.bulkSubscribe is {x.get('bulkSubscribe')}, {where} {name} has {theirs}")
            group = op.get("bindings", {}).get("kafka", {}).get("groupId", {}).get("const")
            if group != app_id:
                out.append(f"{DOC_NAME} operations.{key}: Kafka groupId {group!r}, but {where} {name} is scoped to {app_id!r} (the consumer group is the app-id)")
            if dlq is None and topic.endswith(".dlq"):
                continue  # the dead-letters service never drops: no dead-letter topic of its own
            if dlq not in channels:
                out.append(f"{where} {name} dead-letters to {dlq!r}; {DOC_NAME} has no channel with that address")
            elif not any(op2.get("x-dapr-app-id") == app_id and channel_of(doc, op2).get("address") == dlq
                         for _, op2 in operations(doc, "send")):
                out.append(f"{where} {name}: {app_id}'s sidecar dead-letters to {dlq!r}; {DOC_NAME} has no send operation of {app_id} on it")
    for key, op in receives:
        app_id, address = op.get("x-dapr-app-id"), channel_of(doc, op).get("address")
        profiles = seen.get((app_id, address))
        if not profiles:
            out.append(f"{DOC_NAME} operations.{key}: {app_id} receives {address!r}, but no contracts/dapr-components/*/subscriptions.yaml subscribes it")
            continue
        _, channel = channels[address]
        servers = channel_servers(doc, channel)
        if servers != profiles:
            out.append(
                f"{DOC_NAME} channels with address {address!r} are on servers {sorted(servers)}, "
                f"the subscription of {app_id} is in the profiles {sorted(profiles)} (contracts/dapr-components/*/subscriptions.yaml)"
            )
    return out


def route_errors(doc: dict, src: Sources) -> list[str]:
    """Each consumer's route is served by the spin.toml component named like its app-id."""
    out = []
    triggers = src.spin.get("trigger", {}).get("http", [])

    def serving(route: str) -> str | None:
        exact = [t for t in triggers if t["route"] == route]
        if exact:
            return exact[0]["component"]
        wild = [t for t in triggers if t["route"].endswith("/...") and route.startswith(t["route"][:-3])]
        return max(wild, key=lambda t: len(t["route"]))["component"] if wild else None

    for key, op in operations(doc, "receive"):
        route = op.get("x-dapr-subscription", {}).get("route")
        app_id = op.get("x-dapr-app-id")
        component = serving(route) if route else None
        if component != app_id:
            out.append(f"{DOC_NAME} operations.{key}: {app_id} serves {route!r}, but spin.toml routes it to component {component!r}")
    return out


def sender_errors(doc: dict, src: Sources) -> list[str]:
    out = []
    for key, op in doc.get("operations", {}).items():
        app_id = op.get("x-dapr-app-id")
        if app_id not in src.app_ids:
            out.append(f"{DOC_NAME} operations.{key}: app-id {app_id!r} is not one of tools/devstack/apps.tsv's {sorted(src.app_ids)}")
        client = op.get("bindings", {}).get("kafka", {}).get("clientId", {}).get("const")
        if client is not None and client != app_id:
            out.append(f"{DOC_NAME} operations.{key}: Kafka clientId {client!r} is not its app-id {app_id!r} (pubsub.yaml clientID is {{appID}})")
    return out


def schema_errors(doc: dict, src: Sources) -> list[str]:
    """Each event topic's message: its version is the schema's, its payload's data references the
    generated draft-07 rendering of that schema, which is of the same version."""
    out = []
    channels = channels_by_address(doc)
    versions = []
    for topic in EVENT_TOPICS:
        version = src.schemas[topic]["x-schema-version"]
        versions.append(f"{topic} {version}")
        schema_name = f"contracts/events/{topic}.schema.json"
        if topic not in channels:
            continue  # topic_errors names it
        key, channel = channels[topic]
        message = message_of(doc, channel)
        if str(message.get("x-schema-version")) != version:
            out.append(f"{DOC_NAME} channels.{key} message x-schema-version {message.get('x-schema-version')!r}, {schema_name} is {version!r}")
        if version not in str(message.get("title", "")):
            out.append(f"{DOC_NAME} channels.{key} message title {message.get('title')!r} does not name version {version} of {schema_name}")
        ref = payload_data_ref(doc, message)
        if ref != f"./asyncapi/{topic}.draft-07.json":
            out.append(f"{DOC_NAME} channels.{key}: payload data references {ref!r}, not ./asyncapi/{topic}.draft-07.json (generated from {schema_name})")
        draft = src.drafts.get(topic, {})
        if draft.get("x-schema-version") != version:
            out.append(f"contracts/asyncapi/{topic}.draft-07.json is version {draft.get('x-schema-version')!r}, {schema_name} is {version!r}: run `cargo run -p todo-contracts -- asyncapi-schemas`")
    expected = ", ".join(versions)
    if doc.get("info", {}).get("version") != expected:
        out.append(f"{DOC_NAME} info.version is {doc.get('info', {}).get('version')!r}, the schemas say {expected!r}")
    return out


def _meta(component: dict, name: str):
    for item in component["spec"]["metadata"]:
        if item["name"] == name:
            return item.get("value", item.get("secretKeyRef"))
    return None


def server_errors(doc: dict, src: Sources) -> list[str]:
    """The three profiles' servers: brokers, TLS and SASL, Kafka protocol version."""
    out = []
    servers = doc.get("servers", {})
    if set(servers) != set(PROFILES):
        out.append(f"{DOC_NAME} servers are {sorted(servers)}, the profiles (contracts/dapr-components/) are {sorted(PROFILES)}")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for profile in PROFILES:
        server = servers.get(profile)
        if server is None:
            continue
        where = f"contracts/dapr-components/{profile}/pubsub.yaml"
        comp = src.pubsub[profile]
        brokers, auth = _meta(comp, "brokers"), _meta(comp, "authType")
        tls = auth != "none" and _meta(comp, "disableTls") != "true"
        if isinstance(brokers, str) and server.get("host") != brokers:
            out.append(f"{DOC_NAME} servers.{profile}.host is {server.get('host')!r}, {where} brokers is {brokers!r}")
        if isinstance(brokers, dict) and not server.get("host", "").startswith("{"):
            out.append(f"{DOC_NAME} servers.{profile}.host should be a variable: {where} reads brokers from a secret")
        want_protocol = "kafka-secure" if tls else "kafka"
        if server.get("protocol") != want_protocol:
            out.append(f"{DOC_NAME} servers.{profile}.protocol is {server.get('protocol')!r}, {where} (authType {auth}) means {want_protocol!r}")
        if str(server.get("protocolVersion")) != str(_meta(comp, "version")):
            out.append(f"{DOC_NAME} servers.{profile}.protocolVersion is {server.get('protocolVersion')!r}, {where} version is {_meta(comp, 'version')!r}")
        security = [resolve(doc, s) if "$ref" in s else s for s in server.get("security", [])]
        security = [s if "type" in s else schemes.get(s.get("$ref", "").rsplit("/", 1)[-1], {}) for s in security]
        types = sorted(s.get("type") for s in security)
        mechanism = _meta(comp, "saslMechanism")
        want = [{"SHA-256": "scramSha256", "SHA-512": "scramSha512"}.get(mechanism, "plain")] if auth == "password" else []
        if types != want:
            out.append(f"{DOC_NAME} servers.{profile}.security is {types}, {where} (authType {auth}, saslMechanism {mechanism}) means {want}")
    return out


CHECKS = (topic_errors, consumer_errors, route_errors, sender_errors, schema_errors, server_errors)


def all_errors(doc: dict, src: Sources) -> list[str]:
    return [e for check in CHECKS for e in check(doc, src)]

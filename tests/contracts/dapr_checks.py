"""Checks for the project's Dapr and SpinKube resources and its Spin manifest.

Every check is a pure function that returns a list of violations (empty = passes), so the same
functions run over the resources the project ships (tests must find no violation) and over the
deliberately bad fixtures in fixtures/bad/ (tests must find the violation each was written for).

Where the facts come from: /work/shared/DESIGN.md section 3, Dapr 1.18's CRDs in
<repo>/../shared/reference/crds/, and components-contrib's pubsub.kafka metadata (see
contracts/README.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the clone (in CI too); TODO_SHARED_DIR overrides it.
SHARED = Path(os.environ.get("TODO_SHARED_DIR", REPO.parent / "shared"))
CRD_DIR = SHARED / "reference" / "crds"
SPIN_SCHEMA = SHARED / "reference" / "spin-manifest-v2.schema.json"

PROFILES = ("local", "cloud", "selfhosted")
K8S_PROFILES = ("local", "cloud")
APP_IDS = frozenset({"task-api", "audit", "recurring", "notification", "realtime", "metrics", "deadletters",
                     "e2e-probe"})
TOPICS = frozenset({"task-events", "reminders", "task-updates", "e2e-probe"})
KNOWN_TOPICS = TOPICS | {f"{t}.dlq" for t in TOPICS}
# (subscription's app-id, topic, route): the contract between the consumers and the sidecars.
EXPECTED_SUBSCRIPTIONS = frozenset(
    {
        ("audit", "task-events", "/audit/events"),
        ("recurring", "task-events", "/recurring/events"),
        ("notification", "reminders", "/notification/events"),
        ("realtime", "task-updates", "/realtime/events"),
        # The dead-letters service reads every dead-letter topic (docs/deadletters.md).
        ("deadletters", "task-events.dlq", "/deadletters/events"),
        ("deadletters", "reminders.dlq", "/deadletters/events"),
        ("deadletters", "task-updates.dlq", "/deadletters/events"),
    }
)
E2E_SUBSCRIPTION = ("e2e-probe", "e2e-probe", "/e2e-probe/events")
SASL_MECHANISMS = frozenset({"SHA-256", "SHA-512"})
KAFKA_AUTH_TYPES = frozenset({"none", "password", "mtls", "oidc", "awsiam", "certificate"})

GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(text: str) -> float | None:
    """A Go duration (`10s`, `1m30s`) in seconds; None when it is not one."""
    if not GO_DURATION.match(text):
        return None
    return sum(float(n) * GO_UNITS[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", text))
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Metadata names that carry a credential (matched case-insensitively as substrings) ...
SECRET_NAME = re.compile(
    r"password|passwd|secret|token|connectionstring|credential|apikey|accesskey|privatekey"
    r"|clientkey|sessiontoken|^(url|uri|dsn|key|connectionurl|databaseurl)$",
    re.IGNORECASE,
)
# ... except these, which only look like it.
NOT_SECRET_NAMES = frozenset(
    {"oidctokenendpoint", "tokenendpoint", "schemaregistryurl", "partitionkey", "routingkey"}
)
# Values that are, or embed, a credential.
INLINE_CREDENTIAL = [
    (
        re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE),
        "URL with user:password@",
    ),
    (re.compile(r"\b(password|pwd)\s*=\s*[^\s;'\"]", re.IGNORECASE), "password= in a DSN"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "PEM private key"),
]

OBJECT_META_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        **{
            k: {}
            for k in (
                "generateName",
                "finalizers",
                "ownerReferences",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            )
        },
    },
}


@dataclass
class Resource:
    """One YAML document of a file, with the deployment profile it belongs to (or None)."""

    path: Path
    index: int
    doc: Any
    profile: str | None = None

    @property
    def where(self) -> str:
        return f"{_rel(self.path)}#{self.index}"

    @property
    def kind(self) -> str | None:
        return self.doc.get("kind") if isinstance(self.doc, dict) else None

    @property
    def name(self) -> str | None:
        meta = self.doc.get("metadata") if isinstance(self.doc, dict) else None
        return meta.get("name") if isinstance(meta, dict) else None

    @property
    def spec(self) -> dict:
        spec = self.doc.get("spec") if isinstance(self.doc, dict) else None
        return spec if isinstance(spec, dict) else {}

    @property
    def component_type(self) -> str | None:
        return self.spec.get("type") if self.kind == "Component" else None


@dataclass
class CrdRegistry:
    """JSON Schemas of the CRDs' versions, keyed by (apiVersion, kind)."""

    schemas: dict[tuple[str, str], dict] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# Loading


def profile_of(path: Path) -> str | None:
    """The profile a file belongs to: a directory named after it, or a `<profile>-` file prefix.

    Only directories inside the repository count, so a clone under e.g. /usr/local is no profile.
    """
    try:
        parts = path.resolve().relative_to(REPO).parts
    except ValueError:
        parts = (path.name,)
    for part in parts[:-1]:
        if part in PROFILES:
            return part
    prefix = path.name.split("-", 1)[0]
    return prefix if prefix in PROFILES else None


def load_resources(path: Path) -> list[Resource]:
    """All non-empty YAML documents of one file (raises yaml.YAMLError on invalid YAML)."""
    with path.open(encoding="utf-8") as fh:
        docs = list(yaml.safe_load_all(fh))
    return [
        Resource(path, i, doc, profile_of(path)) for i, doc in enumerate(docs) if doc is not None
    ]


def resource_files(repo: Path = REPO) -> list[Path]:
    """Every YAML file under contracts/ and deploy/, except Helm templates (not plain YAML), the
    OpenAPI documents (contracts/openapi/, checked by test_openapi.py) and the AsyncAPI document
    (contracts/asyncapi.yaml, checked by test_asyncapi_sync.py and tests/asyncapi)."""
    files = []
    for base in (repo / "contracts", repo / "deploy"):
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix not in (".yaml", ".yml") or not p.is_file():
                continue
            if p.parent.name == "templates" and (p.parent.parent / "Chart.yaml").exists():
                continue
            if base.name == "contracts" and p.relative_to(base).parts[0] in ("openapi", "asyncapi.yaml"):
                continue
            files.append(p)
    return files


def load_crds(crd_dir: Path = CRD_DIR) -> CrdRegistry:
    """Read every CRD in crd_dir and convert each served version's openAPIV3Schema."""
    if not crd_dir.is_dir():
        raise FileNotFoundError(
            f"CRD directory {crd_dir} is missing: shared/ must sit beside the repository "
            f"(<repo>/../shared/reference/crds) or TODO_SHARED_DIR must point at it"
        )
    reg = CrdRegistry()
    for f in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(f.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            reg.groups.add(group)
            for version in crd["spec"]["versions"]:
                if not version.get("served", False):
                    continue
                schema = to_json_schema(version["schema"]["openAPIV3Schema"])
                schema.setdefault("properties", {})["metadata"] = OBJECT_META_SCHEMA
                schema["required"] = sorted(
                    set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"}
                )
                reg.schemas[(f"{group}/{version['name']}", kind)] = schema
    if not reg.schemas:
        raise FileNotFoundError(f"no CustomResourceDefinition found in {crd_dir}")
    return reg


def to_json_schema(node: Any, name: str = "") -> Any:
    """Turn a CRD's OpenAPI v3 schema into a JSON Schema with the API server's strictness.

    x-kubernetes-* keys are dropped, `nullable` becomes a null type, and an object schema that
    lists its properties rejects any other field unless it preserves unknown fields: that is what
    `kubectl apply` (strict field validation) does with a misspelt field.
    """
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_json_schema(v, k) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if (
        out.get("type") == "object"
        and "additionalProperties" not in out
        and not preserve
        and not ("properties" not in out and name == "metadata")
    ):
        out["additionalProperties"] = False
    return out


# ---------------------------------------------------------------------------------------------
# Checks on one resource


def crd_errors(res: Resource, crds: CrdRegistry) -> list[str]:
    """The resource against its CRD's schema (by apiVersion and kind); other kinds pass."""
    doc = res.doc
    if not isinstance(doc, dict):
        return [f"{res.where}: not a mapping"]
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return [f"{res.where}: apiVersion and kind are required"]
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    schema = crds.schemas.get((api, kind))
    if schema is None:
        if group in crds.groups:
            return [f"{res.where}: no served CRD version for apiVersion {api} kind {kind}"]
        return []  # Kustomization, core Kubernetes kinds: no reference schema here.
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{res.where}: {'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _metadata_items(res: Resource) -> list[dict]:
    items = res.spec.get("metadata") if res.kind == "Component" else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _meta_value(res: Resource, name: str) -> str | None:
    """A Component metadata item's plain value as a string (None if absent or a secret ref)."""
    for item in _metadata_items(res):
        if str(item.get("name", "")).lower() == name.lower() and "value" in item:
            value = item["value"]
            return str(value).lower() if isinstance(value, bool) else str(value)
    return None


def _has_meta(res: Resource, name: str) -> bool:
    return any(str(i.get("name", "")).lower() == name.lower() for i in _metadata_items(res))


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "t", "yes", "y")


def kafka_errors(res: Resource) -> list[str]:
    """pubsub.kafka: authType set; cloud uses SASL/SCRAM over TLS; consumer retry off."""
    if res.component_type != "pubsub.kafka":
        return []
    errors = []
    auth = _meta_value(res, "authType")
    if auth is None or auth.strip() == "":
        errors.append(f"{res.where}: pubsub.kafka needs an explicit authType")
    elif auth not in KAFKA_AUTH_TYPES:
        # The component lower-cases authType to pick the method but compares it case-sensitively
        # to decide on TLS: `None` would turn TLS on against a plaintext broker.
        errors.append(
            f"{res.where}: authType {auth!r} must be one of {sorted(KAFKA_AUTH_TYPES)}, lowercase"
        )
    if auth is not None and auth.lower() == "password":
        mech = _meta_value(res, "saslMechanism")
        if mech not in SASL_MECHANISMS:
            errors.append(
                f"{res.where}: saslMechanism {mech!r} must be exactly SHA-256 or SHA-512 "
                "(any other spelling silently falls back to SASL/PLAIN)"
            )
    if res.profile == "cloud":
        if auth is None or auth.lower() != "password":
            errors.append(f"{res.where}: cloud Kafka (Redpanda Cloud) needs authType password")
        if _truthy(_meta_value(res, "disableTls")):
            errors.append(f"{res.where}: TLS must not be disabled in the cloud profile")
        if _truthy(_meta_value(res, "skipVerify")):
            errors.append(f"{res.where}: TLS verification must not be skipped in the cloud profile")
    elif res.profile in ("local", "selfhosted") and auth is not None and auth.lower() != "none":
        errors.append(f"{res.where}: the {res.profile} broker is plaintext: authType must be none")
    for item in _metadata_items(res):
        if "{namespace}" in str(item.get("value", "")):
            errors.append(
                f"{res.where}: {item.get('name')!r} uses {{namespace}}, which makes Dapr treat the "
                "pub/sub as namespace-scoped (topic names change); use {appID}"
            )
    if _meta_value(res, "consumeRetryEnabled") != "false":
        errors.append(
            f'{res.where}: set consumeRetryEnabled to "false": the component\'s own retry loop is '
            "unbounded by default and blocks the partition; the Resiliency policy bounds retries"
        )
    return errors


def _looks_secret(name: str) -> bool:
    return name.lower() not in NOT_SECRET_NAMES and bool(SECRET_NAME.search(name))


def secret_ref_errors(res: Resource) -> list[str]:
    """Credential-bearing metadata comes from a secret store, never from a plain value."""
    errors = []
    uses_ref = False
    for item in _metadata_items(res):
        name = str(item.get("name", ""))
        uses_ref = uses_ref or "secretKeyRef" in item
        if not _looks_secret(name):
            continue
        if "value" in item:
            errors.append(f"{res.where}: metadata {name!r} carries a credential: use secretKeyRef")
        elif not isinstance(item.get("secretKeyRef"), dict):
            errors.append(f"{res.where}: metadata {name!r} must use secretKeyRef")
    auth = res.doc.get("auth") if isinstance(res.doc, dict) else None
    if uses_ref and not (isinstance(auth, dict) and auth.get("secretStore")):
        errors.append(f"{res.where}: secretKeyRef needs auth.secretStore")
    return errors


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def inline_credential_errors(res: Resource) -> list[str]:
    """No string anywhere in the resource looks like a credential; no Secret carries data."""
    errors = []
    for text in _strings(res.doc):
        for pattern, what in INLINE_CREDENTIAL:
            if pattern.search(text):
                errors.append(f"{res.where}: inline credential ({what})")
    if res.kind == "Secret" and (res.doc.get("data") or res.doc.get("stringData")):
        errors.append(
            f"{res.where}: a Secret with data is an inline credential; create it out of band"
        )
    return errors


# Bounds of a bulk subscription (`bulkSubscribe`).
BULK_MAX_AWAIT_MS = 50
BULK_MAX_MESSAGES = 500


def subscription_errors(res: Resource) -> list[str]:
    """Declarative subscriptions: known topics, a `<topic>.dlq` dead-letter topic, bounded bulk
    settings, scopes."""
    if res.kind != "Subscription":
        return []
    errors = []
    spec, where = res.spec, res.where
    topic, dlq = spec.get("topic"), spec.get("deadLetterTopic")
    if isinstance(topic, str) and topic.endswith(".dlq") and topic in KNOWN_TOPICS:
        # The dead-letters service: the bytes as they are (rawPayload), no dead-letter topic of
        # a dead-letter topic (it never answers DROP), and only that app-id reads them.
        if str((spec.get("metadata") or {}).get("rawPayload", "")).lower() != "true":
            errors.append(f"{where}: a subscription to {topic} needs metadata rawPayload: \"true\" "
                          f"(a message that is not a CloudEvent must reach the dead-letters service)")
        if dlq:
            errors.append(f"{where}: a subscription to {topic} has no deadLetterTopic (the service never drops)")
        if res.doc.get("scopes") != ["deadletters"]:
            errors.append(f"{where}: only the deadletters app-id reads {topic} (scopes: [deadletters])")
        return errors
    if topic not in TOPICS:
        errors.append(f"{where}: topic {topic!r} is not a known topic ({sorted(TOPICS)})")
    if not dlq:
        errors.append(f"{where}: deadLetterTopic is required (DROP and exhausted retries go there)")
    elif dlq not in KNOWN_TOPICS:
        errors.append(f"{where}: deadLetterTopic {dlq!r} is not a known topic")
    elif topic and dlq != f"{topic}.dlq":
        errors.append(f"{where}: deadLetterTopic of {topic!r} must be {topic}.dlq, not {dlq!r}")
    if spec.get("pubsubname") != "pubsub":
        errors.append(f"{where}: pubsubname must be 'pubsub'")
    route = (spec.get("routes") or {}).get("default") if "routes" in spec else spec.get("route")
    if not isinstance(route, str) or not route.startswith("/"):
        errors.append(f"{where}: route {route!r} must be an absolute path")
    bulk = spec.get("bulkSubscribe")
    if bulk is not None and bulk.get("enabled"):
        # Dapr's defaults (100 messages, 1000 ms) would hold a quiet partition's event a second.
        wait = bulk.get("maxAwaitDurationMs")
        if not isinstance(wait, int) or not 1 <= wait <= BULK_MAX_AWAIT_MS:
            errors.append(f"{where}: bulkSubscribe.maxAwaitDurationMs must be set, 1..{BULK_MAX_AWAIT_MS} "
                          f"(Dapr's default 1000 ms delays every event of a quiet partition), not {wait!r}")
        count = bulk.get("maxMessagesCount")
        if not isinstance(count, int) or not 1 <= count <= BULK_MAX_MESSAGES:
            errors.append(f"{where}: bulkSubscribe.maxMessagesCount must be 1..{BULK_MAX_MESSAGES} "
                          f"(the consumers' statements are sized for it), not {count!r}")
    scopes = res.doc.get("scopes")
    if not scopes:
        errors.append(f"{where}: scopes must name the consuming app-id")
    else:
        unknown = sorted(set(map(str, scopes)) - APP_IDS)
        if unknown:
            errors.append(f"{where}: unknown app-ids in scopes: {unknown}")
    return errors


def jobs_component_errors(res: Resource) -> list[str]:
    """There is no jobs component in Dapr: jobs use the Jobs API on the Scheduler service."""
    ctype = res.component_type
    if isinstance(ctype, str) and ctype.lower().startswith("jobs."):
        return [f"{res.where}: component type {ctype!r} does not exist; use the Jobs API"]
    return []


def consumer_group_errors(res: Resource) -> list[str]:
    """No shared consumer group: Dapr's default (the app-id) gives each app every event."""
    errors = []
    if res.kind == "Subscription":
        sub_meta = res.spec.get("metadata") or {}
        if any(str(k).lower() in ("consumergroup", "consumerid") for k in sub_meta):
            errors.append(f"{res.where}: a subscription must not set a consumer group or id")
    for item in _metadata_items(res):
        name = str(item.get("name", "")).lower()
        if name == "consumergroup":
            errors.append(
                f"{res.where}: consumerGroup makes the apps compete for events; remove it "
                "(Dapr uses the app-id)"
            )
        elif name == "consumerid" and "{appID}" not in str(item.get("value", "")):
            errors.append(f"{res.where}: a fixed consumerID is a shared consumer group")
    return errors


def inbound_retries(res: Resource) -> set[str]:
    """The retry policies a pub/sub component's inbound target uses (event delivery to the app)."""
    comps = ((res.spec.get("targets") or {}).get("components") or {})
    return {str((c or {}).get("inbound", {}).get("retry")) for c in comps.values()
            if (c or {}).get("inbound", {}).get("retry")}


def resiliency_errors(res: Resource) -> list[str]:
    """Retries: event delivery (a pub/sub component's inbound) retries forever with an
    exponential backoff capped at 30 s at most, because a consumer answers RETRY only while a
    dependency is down and dead-letters an event it fails on by itself (docs/deadletters.md);
    every other retry is finite. Valid durations, every policy used, every reference defined."""
    if res.kind != "Resiliency":
        return []
    errors, where = [], res.where
    policies = res.spec.get("policies") or {}
    kinds = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    defined = {k: set((policies.get(v) or {}).keys()) for k, v in kinds.items()}
    for name, duration in (policies.get("timeouts") or {}).items():
        if not GO_DURATION.match(str(duration)):
            errors.append(f"{where}: timeout {name!r} is not a duration: {duration!r}")
    inbound = inbound_retries(res)
    for name, retry in (policies.get("retries") or {}).items():
        retry = retry or {}
        max_retries = retry.get("maxRetries")
        if name in inbound:
            interval = go_seconds(str(retry.get("maxInterval", "")))
            if max_retries != -1 or retry.get("policy") != "exponential" or not interval \
                    or interval > 30:
                errors.append(
                    f"{where}: retry {name!r} delivers events: it needs maxRetries: -1 (an outage "
                    f"of any length dead-letters nothing), policy exponential and a maxInterval "
                    f"of at most 30s (got maxRetries {max_retries!r}, policy "
                    f"{retry.get('policy')!r}, maxInterval {retry.get('maxInterval')!r})"
                )
        elif isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            errors.append(
                f"{where}: retry {name!r} needs a finite maxRetries >= 0 "
                f"(got {max_retries!r}; Dapr's default -1 retries forever)"
            )
        if retry.get("policy", "constant") not in ("constant", "exponential"):
            errors.append(f"{where}: retry {name!r} has an unknown policy {retry.get('policy')!r}")
        for key in ("duration", "maxInterval"):
            if key in retry and not GO_DURATION.match(str(retry[key])):
                errors.append(f"{where}: retry {name!r} {key} is not a duration: {retry[key]!r}")
    used: dict[str, set[str]] = {k: set() for k in kinds}
    targets = res.spec.get("targets") or {}
    refs = []
    for group in ("apps", "actors"):
        for tname, target in (targets.get(group) or {}).items():
            refs.append((f"{group}.{tname}", target or {}))
    for cname, comp in (targets.get("components") or {}).items():
        for direction in ("inbound", "outbound"):
            if direction in (comp or {}):
                refs.append((f"components.{cname}.{direction}", comp[direction] or {}))
    for target_name, target in refs:
        for key, policy in target.items():
            if key not in kinds:
                continue
            used[key].add(policy)
            if policy not in defined[key]:
                errors.append(f"{where}: target {target_name} uses undefined {key} {policy!r}")
    for key, names in defined.items():
        for unused in sorted(names - used[key]):
            errors.append(f"{where}: {kinds[key]} policy {unused!r} is not used by any target")
    if not res.doc.get("scopes"):
        errors.append(f"{where}: scopes must list the app-ids the policy applies to")
    return errors


def namespace_errors(res: Resource) -> list[str]:
    """metadata.namespace on Kubernetes profiles' Dapr resources only."""
    api = res.doc.get("apiVersion", "") if isinstance(res.doc, dict) else ""
    if not str(api).startswith("dapr.io/") or res.profile is None:
        return []
    ns = (res.doc.get("metadata") or {}).get("namespace")
    if res.profile in K8S_PROFILES and not ns:
        return [f"{res.where}: Kubernetes profile resources need metadata.namespace"]
    if res.profile == "selfhosted" and ns:
        return [f"{res.where}: self-hosted resources must not set metadata.namespace"]
    return []


RESOURCE_CHECKS = [
    kafka_errors,
    secret_ref_errors,
    inline_credential_errors,
    subscription_errors,
    jobs_component_errors,
    consumer_group_errors,
    resiliency_errors,
    namespace_errors,
]


# ---------------------------------------------------------------------------------------------
# Checks across one profile's resources


def _sub_key(res: Resource) -> tuple:
    spec = res.spec
    route = (spec.get("routes") or {}).get("default") if "routes" in spec else spec.get("route")
    scopes = res.doc.get("scopes") or []
    return (scopes[0] if len(scopes) == 1 else tuple(scopes), spec.get("topic"), route)


def profile_errors(profile: str, resources: list[Resource]) -> list[str]:
    """The resources of one profile work together: names, references, subscriptions, scopes."""
    errors = []
    comps = [r for r in resources if r.kind == "Component"]
    by_name: dict[str, Resource] = {}
    for c in comps:
        if c.name in by_name:
            errors.append(f"{profile}: component {c.name!r} defined twice")
        by_name[c.name] = c
    expected = {
        "pubsub": "pubsub.kafka",
        "statestore": "state.postgresql",
        "tododb": "bindings.postgresql",
        "outbox-drain": "bindings.cron",
        "smtp": "bindings.smtp",
    }
    if profile == "selfhosted":
        expected["secretstore"] = "secretstores.local.env"
    for name, ctype in expected.items():
        got = by_name.get(name)
        if got is None:
            errors.append(f"{profile}: component {name!r} ({ctype}) is missing")
        elif got.component_type != ctype:
            errors.append(
                f"{profile}: component {name!r} must be {ctype}, not {got.component_type!r}"
            )
    stores = {n for n, c in by_name.items() if str(c.component_type).startswith("secretstores.")}
    for c in comps:
        store = (c.doc.get("auth") or {}).get("secretStore")
        if store is None:
            continue
        if profile in K8S_PROFILES and store != "kubernetes":
            errors.append(f"{c.where}: on Kubernetes use the built-in secret store 'kubernetes'")
        if profile == "selfhosted" and store not in stores:
            errors.append(f"{c.where}: secret store {store!r} is not defined in this profile")
    subs = [r for r in resources if r.kind == "Subscription"]
    want = set(EXPECTED_SUBSCRIPTIONS) | ({E2E_SUBSCRIPTION} if profile == "selfhosted" else set())
    got_subs = [_sub_key(s) for s in subs]
    if sorted(map(str, got_subs)) != sorted(map(str, want)):
        errors.append(f"{profile}: subscriptions {sorted(got_subs)} differ from {sorted(want)}")
    for s in subs:
        if s.spec.get("pubsubname") not in by_name:
            errors.append(f"{s.where}: pubsub {s.spec.get('pubsubname')!r} is not defined")
    resiliencies = [r for r in resources if r.kind == "Resiliency"]
    if len(resiliencies) != 1:
        errors.append(f"{profile}: expected one Resiliency, found {len(resiliencies)}")
    for r in resiliencies:
        targets = r.spec.get("targets") or {}
        if "inbound" not in ((targets.get("components") or {}).get("pubsub") or {}):
            errors.append(f"{r.where}: no inbound (delivery to apps) policy for component pubsub")
        for cname in targets.get("components") or {}:
            if cname not in by_name:
                errors.append(f"{r.where}: target component {cname!r} is not defined")
        scopes = set(r.doc.get("scopes") or [])
        for s in subs:
            for app in s.doc.get("scopes") or []:
                if app not in scopes:
                    errors.append(
                        f"{r.where}: subscriber {app!r} is not in the Resiliency's scopes"
                    )
        for app in targets.get("apps") or {}:
            if app not in APP_IDS:
                errors.append(f"{r.where}: unknown app-id {app!r} in targets")
    return errors


def kustomization_errors(kustomization: Path) -> list[str]:
    """A profile's kustomization lists exactly the resource files beside it."""
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
    listed = set(data.get("resources") or [])
    present = {
        p.name
        for p in kustomization.parent.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name != kustomization.name
    }
    errors = []
    if listed != present:
        errors.append(
            f"{_rel(kustomization)}: resources {sorted(listed)} "
            f"differ from the files {sorted(present)}"
        )
    if data.get("namespace") != "todo":
        errors.append(f"{_rel(kustomization)}: namespace must be 'todo'")
    return errors


# ---------------------------------------------------------------------------------------------
# Spin manifest


def spin_manifest_errors(manifest: dict, schema: dict) -> list[str]:
    """spin.toml (parsed) against Spin 4.0.2's own JSON Schema of manifest version 2."""
    validator_cls = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    validator = validator_cls(schema)
    return [
        f"spin.toml: {'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(
            validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))
        )
    ]

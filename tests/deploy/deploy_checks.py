"""Checks of the deployment (deploy/): rendering the overlays and what must hold of them.

Pure functions over rendered resources (lists of dicts), so the same checks run on what
`kubectl kustomize` renders offline, on deliberately broken variants (fixtures/broken/), and,
through the objects read back, on what the API server and spin-operator made of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterable

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
BIN = CACHE / "bin"
KUBECTL = BIN / "kubectl"
PROFILES = ("local", "cloud")
NAMESPACE = "todo"

# The services: SpinApp name = Spin component id = Dapr app-id (web has no sidecar).
SERVICES = ("task-api", "audit", "recurring", "notification", "realtime", "metrics", "deadletters", "web")
DAPR_APPS = frozenset(SERVICES) - {"web"}
CONSUMERS = frozenset({"audit", "recurring", "notification", "realtime"})
EXECUTOR = "containerd-shim-spin"
RUNTIME_CLASS = "wasmtime-spin-v2"
PHASE_LABEL = ("todo-events/deploy-phase", "database")
# Plausible, fake cloud credentials for deploy/secrets.sh cloud (nothing connects to them).
CLOUD_ENV = {
    "TODO_PG_URL": "postgresql://todo_owner:not-a-password@ep-test-123.eu-central-1.aws.neon.tech/todo?sslmode=require",
    "KAFKA_BROKERS": "seed-test.any.eu-central-1.mpx.prd.cloud.redpanda.com:9092",
    "KAFKA_USERNAME": "todo-events",
    "KAFKA_PASSWORD": "not-a-password",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_PORT": "587",
    "SMTP_USER": "todo",
    "SMTP_PASSWORD": "not-a-password",
    "SMTP_FROM": "todo@example.com",
    "BETTER_AUTH_SECRET": "not-a-secret-either",
}
DAPR_VERSION_RE = re.compile(r"^\s*github\.com/dapr/dapr\s+(v\S+)", re.MULTILINE)

# Routes only the sidecars may call (spin.toml, contracts/README.md): the Ingress must send none
# of them to the service that owns it. (/realtime/events is both realtime's Dapr route, POST, and
# the browsers' SSE endpoint, GET, so it goes to Pushpin; the app tells them apart.)
DAPR_ONLY_ROUTES = {
    "/outbox-drain": "task-api",
    "/audit/events": "audit",
    "/recurring/events": "recurring",
    "/notification/events": "notification",
    "/job/reminder-x": "notification",
}
# What the Ingress must route (path, pathType) -> (service, port).
EXPECTED_ROUTES = {
    ("/api/tasks", "Prefix"): ("task-api", 80),
    ("/api/dead-letters", "Prefix"): ("task-api", 80),
    ("/api/audit", "Prefix"): ("audit", 80),
    ("/api/reminders", "Prefix"): ("notification", 80),
    ("/mcp", "Exact"): ("task-api", 80),
    ("/realtime", "Prefix"): ("pushpin", "http"),
    ("/", "Prefix"): ("web", 80),
}

sys.path.insert(0, str(REPO / "tests" / "contracts"))
import dapr_checks  # noqa: E402  (the contract tests' CRD conversion and rules)


# ---------------------------------------------------------------------------------------------
# Tools


def kubectl_path() -> Path:
    """The project's kubectl 1.37.2 (kustomize v5.8 inside); fails clearly if it is missing."""
    if not KUBECTL.is_file():
        raise FileNotFoundError(
            f"{KUBECTL} is missing: build the control plane's tools with tools/k8s/build.sh "
            "(cold: about 24 minutes; tools/devstack/setup.sh runs it)"
        )
    return KUBECTL


def render(path: Path, kubectl: Path | None = None, env: dict | None = None) -> list[dict]:
    """`kubectl kustomize <path>`: the resources `kubectl apply -k` would send."""
    out = subprocess.run(
        [str(kubectl or kubectl_path()), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def render_profile(profile: str) -> list[dict]:
    return render(DEPLOY / "overlays" / profile)


def secrets_script_list(profile: str) -> set[tuple[str, str]]:
    """(secret, key) pairs deploy/secrets.sh creates for a profile."""
    out = subprocess.run(
        [str(DEPLOY / "secrets.sh"), profile, "--list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return {tuple(line.split()) for line in out.stdout.splitlines() if line.strip()}


def dapr_annotation_names() -> set[str]:
    """Every annotation Dapr's sidecar injector knows, from the Dapr module the project builds
    daprd from (tools/dapr/go.mod's version, in the Go module cache)."""
    gomod = (REPO / "tools" / "dapr" / "go.mod").read_text(encoding="utf-8")
    m = DAPR_VERSION_RE.search(gomod)
    if not m:
        raise RuntimeError("tools/dapr/go.mod names no github.com/dapr/dapr version")
    modcache = os.environ.get("GOMODCACHE") or str(Path.home() / "go" / "pkg" / "mod")
    if "GOMODCACHE" not in os.environ:
        try:
            modcache = (
                subprocess.run(
                    ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
                ).stdout.strip()
                or modcache
            )
        except (OSError, subprocess.CalledProcessError):
            pass
    src = Path(modcache) / f"github.com/dapr/dapr@{m.group(1)}/pkg/injector/annotations/annotations.go"
    if not src.is_file():
        raise FileNotFoundError(
            f"{src} is missing: the Dapr module is fetched by tools/dapr/build.sh (setup.sh)"
        )
    return set(re.findall(r'^\s*Key\w+\s*=\s*"(dapr\.io/[^"]+)"', src.read_text(), re.MULTILINE))


def spin_variables() -> dict[str, dict]:
    """spin.toml's [variables]."""
    manifest = tomllib.loads((REPO / "spin.toml").read_text(encoding="utf-8"))
    return manifest.get("variables", {})


RUNTIME_CONFIG_SECRET = ("todo-runtime-config", "runtime-config.toml")
RUNTIME_CONFIG_TEMPLATE = DEPLOY / "runtime-config.toml.in"
SECRET_PLACEHOLDER = re.compile(r"^\$\{secret:([a-z0-9-]+)/([A-Za-z0-9_.-]+)\}$")


def runtime_config_values(path: Path = RUNTIME_CONFIG_TEMPLATE) -> dict[str, str]:
    """The values of the static variables provider in deploy/runtime-config.toml.in (name ->
    literal, or `${secret:<secret>/<key>}`); {} when there is no such provider."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    for provider in doc.get("variables_provider", []):
        if provider.get("type") == "static":
            return dict(provider.get("values", {}))
    return {}


def runtime_config_secret_of(value: str) -> tuple[str, str] | None:
    """(secret, key) of a `${secret:<secret>/<key>}` value, else None."""
    m = SECRET_PLACEHOLDER.match(value)
    return (m.group(1), m.group(2)) if m else None


# ---------------------------------------------------------------------------------------------
# Access


def by_kind(docs: Iterable[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def find(docs: Iterable[dict], kind: str, name: str) -> dict | None:
    return by_kind(docs, kind).get(name)


def spin_env_name(variable: str) -> str:
    """spin-operator: a SpinApp variable `name` becomes SPIN_VARIABLE_<NAME upper-cased>."""
    return "SPIN_VARIABLE_" + variable.upper()


def pod_specs(docs: Iterable[dict]) -> Iterable[tuple[str, dict]]:
    """(where, pod spec) of every workload with a pod template."""
    for d in docs:
        spec = d.get("spec") or {}
        if d.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
            yield f"{d['kind']}/{d['metadata']['name']}", spec["template"]["spec"]
        elif d.get("kind") == "Pod":
            yield f"Pod/{d['metadata']['name']}", spec


def secret_refs(docs: list[dict]) -> set[tuple[str, str, str]]:
    """Every (secret, key, where) the resources read: pod env, SpinApp variables, Dapr token
    annotations (key `token`, as the injector reads them), Dapr Components' secretKeyRefs (store
    `kubernetes`), KEDA TriggerAuthentications."""
    refs = set()
    for where, pod in pod_specs(docs):
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((ref.get("name", ""), ref.get("key", ""), f"{where} env {e['name']}"))
        for v in pod.get("volumes", []):
            if "secret" in v:
                for item in v["secret"].get("items", []):
                    refs.add((v["secret"]["secretName"], item["key"], f"{where} volume"))
    for name, app in by_kind(docs, "SpinApp").items():
        for var in app["spec"].get("variables", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add((ref.get("name", ""), ref.get("key", ""), f"SpinApp/{name} {var['name']}"))
        from_secret = (app["spec"].get("runtimeConfig") or {}).get("loadFromSecret")
        if from_secret:
            refs.add((from_secret, RUNTIME_CONFIG_SECRET[1], f"SpinApp/{name} runtimeConfig.loadFromSecret"))
            if from_secret == RUNTIME_CONFIG_SECRET[0]:
                for var, value in runtime_config_values().items():
                    ref = runtime_config_secret_of(value)
                    if ref:
                        refs.add((*ref, f"{RUNTIME_CONFIG_TEMPLATE.name} {var}"))
        ann = app["spec"].get("podAnnotations") or {}
        for a in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
            if a in ann:
                refs.add((ann[a], "token", f"SpinApp/{name} {a}"))
    for name, comp in by_kind(docs, "Component").items():
        for item in comp["spec"].get("metadata", []):
            ref = item.get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"], f"Component/{name} {item['name']}"))
    for name, ta in by_kind(docs, "TriggerAuthentication").items():
        for ref in ta["spec"].get("secretTargetRef", []):
            refs.add((ref["name"], ref["key"], f"TriggerAuthentication/{name} {ref['parameter']}"))
    return refs


# ---------------------------------------------------------------------------------------------
# Checks (each returns a list of violations; empty = passes)


def contract_errors(docs: list[dict], profile: str, crds) -> list[str]:
    """The contract tests' CRD validation and rules on every rendered resource, and namespace."""
    errors = []
    for i, doc in enumerate(docs):
        res = dapr_checks.Resource(Path(f"deploy/overlays/{profile} (rendered)"), i, doc, profile)
        errors += dapr_checks.crd_errors(res, crds)
        for check in dapr_checks.RESOURCE_CHECKS:
            errors += check(res)
        if doc["kind"] not in ("RuntimeClass", "Namespace") and doc["metadata"].get("namespace") != NAMESPACE:
            errors.append(f"{res.where}: {doc['kind']}/{doc['metadata']['name']} not in namespace {NAMESPACE}")
    return errors


def spinapp_errors(docs: list[dict]) -> list[str]:
    """One SpinApp per service from one image, each retaining only its component."""
    errors = []
    apps = by_kind(docs, "SpinApp")
    if set(apps) != set(SERVICES):
        errors.append(f"SpinApps {sorted(apps)} are not the services {sorted(SERVICES)}")
    images = {a["spec"].get("image") for a in apps.values()}
    if len(images) != 1:
        errors.append(f"SpinApps use several images: {sorted(map(str, images))}")
    elif not re.match(r"^[a-z0-9.-]+(:[0-9]+)?/.+[:@].+$", str(next(iter(images)))):
        errors.append(f"the app image {images} is not a registry reference with a tag or digest")
    executors = by_kind(docs, "SpinAppExecutor")
    for name, app in apps.items():
        spec = app["spec"]
        if spec.get("components") != [name]:
            errors.append(f"SpinApp/{name}: components {spec.get('components')} != [{name!r}]")
        if spec.get("executor") != EXECUTOR:
            errors.append(f"SpinApp/{name}: executor {spec.get('executor')!r} != {EXECUTOR!r}")
        if spec.get("enableAutoscaling") and "replicas" in spec:
            errors.append(f"SpinApp/{name}: replicas and enableAutoscaling exclude each other")
        if not spec.get("enableAutoscaling") and not spec.get("replicas", 0) >= 1:
            errors.append(f"SpinApp/{name}: needs replicas >= 1 (or enableAutoscaling)")
        for probe in ("readiness", "liveness"):
            path = ((spec.get("checks") or {}).get(probe) or {}).get("httpGet", {}).get("path")
            if path != "/.well-known/spin/health":
                errors.append(f"SpinApp/{name}: {probe} probe path {path!r}")
        if not (spec.get("resources") or {}).get("requests"):
            errors.append(f"SpinApp/{name}: no resource requests")
    ex = executors.get(EXECUTOR)
    if ex is None:
        errors.append(f"no SpinAppExecutor {EXECUTOR} in the namespace (spin-operator looks there)")
    elif (ex["spec"].get("deploymentConfig") or {}).get("runtimeClassName") != RUNTIME_CLASS:
        errors.append(f"SpinAppExecutor {EXECUTOR}: runtimeClassName is not {RUNTIME_CLASS}")
    return errors


def dapr_annotation_errors(docs: list[dict], known: set[str]) -> list[str]:
    """Dapr annotations on every service but web, with names Dapr 1.18 knows, tokens agreeing."""
    errors = []
    configs = by_kind(docs, "Configuration")
    values = runtime_config_values()
    for name, app in by_kind(docs, "SpinApp").items():
        ann = app["spec"].get("podAnnotations") or {}
        dapr = {k: v for k, v in ann.items() if k.startswith("dapr.io/")}
        for k in sorted(set(dapr) - known):
            errors.append(f"SpinApp/{name}: {k} is not an annotation of Dapr's injector")
        if name not in DAPR_APPS:
            if dapr:
                errors.append(f"SpinApp/{name}: has no sidecar but dapr.io annotations {sorted(dapr)}")
            continue
        want = {"dapr.io/enabled": "true", "dapr.io/app-id": name, "dapr.io/app-port": "80"}
        for k, v in want.items():
            if dapr.get(k) != v:
                errors.append(f"SpinApp/{name}: {k} is {dapr.get(k)!r}, want {v!r}")
        if dapr.get("dapr.io/config") not in configs:
            errors.append(f"SpinApp/{name}: dapr.io/config names no Configuration here")
        for ann_key, var in (
            ("dapr.io/api-token-secret", "dapr_api_token"),
            ("dapr.io/app-token-secret", "app_api_token"),
        ):
            ref = runtime_config_secret_of(values.get(var, "")) or (None, None)
            if not dapr.get(ann_key):
                errors.append(f"SpinApp/{name}: no {ann_key}")
            elif ref != (dapr[ann_key], "token"):
                errors.append(
                    f"SpinApp/{name}: variable {var} reads {ref[0]}/{ref[1]} ({RUNTIME_CONFIG_TEMPLATE.name}), "
                    f"but the sidecar's token is {dapr[ann_key]}/token ({ann_key})"
                )
    return errors


def variable_errors(docs: list[dict], variables: dict[str, dict],
                    values: dict[str, str] | None = None) -> list[str]:
    """Every SpinApp loads Spin's runtime configuration from the Secret deploy/secrets.sh renders,
    whose static provider (deploy/runtime-config.toml.in, `values`) names exactly spin.toml's
    [variables]: all of them, also those with a default (a variable it lacks falls through to the
    environment provider, which costs milliseconds per read), none that spin.toml lacks. No SpinApp
    sets a spin.toml variable in spec.variables (an environment variable again)."""
    values = runtime_config_values() if values is None else values
    errors = []
    for missing in sorted(set(variables) - set(values)):
        errors.append(f"{RUNTIME_CONFIG_TEMPLATE.name}: variable {missing} of spin.toml is not in the static provider")
    for extra in sorted(set(values) - set(variables)):
        errors.append(f"{RUNTIME_CONFIG_TEMPLATE.name}: {extra} is not a variable of spin.toml")
    for var, value in values.items():
        if not isinstance(value, str) or ("${" in value and not runtime_config_secret_of(value)):
            errors.append(f"{RUNTIME_CONFIG_TEMPLATE.name}: {var} = {value!r} is neither a string nor ${{secret:<secret>/<key>}}")
    for name, app in by_kind(docs, "SpinApp").items():
        from_secret = (app["spec"].get("runtimeConfig") or {}).get("loadFromSecret")
        if from_secret != RUNTIME_CONFIG_SECRET[0]:
            errors.append(f"SpinApp/{name}: spec.runtimeConfig.loadFromSecret is {from_secret!r}, want {RUNTIME_CONFIG_SECRET[0]!r}")
        have = [v["name"] for v in app["spec"].get("variables", [])]
        for v in sorted(set(have) & set(variables)):
            errors.append(f"SpinApp/{name}: spin.toml's {v} set in spec.variables (an environment variable: "
                          f"milliseconds per read); it belongs in {RUNTIME_CONFIG_TEMPLATE.name}")
        for v in have:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
                errors.append(f"SpinApp/{name}: {v!r} is not a Spin variable name")
        if len(have) != len(set(have)):
            errors.append(f"SpinApp/{name}: a variable is set twice: {have}")
    return errors


def secret_errors(docs: list[dict], created: set[tuple[str, str]]) -> list[str]:
    """Every Secret key the resources read is one deploy/secrets.sh creates."""
    return [
        f"{where} reads Secret {s!r} key {k!r}, which deploy/secrets.sh does not create"
        for s, k, where in sorted(secret_refs(docs))
        if (s, k) not in created
    ]


def subscription_topics(docs: list[dict]) -> dict[str, str]:
    """app-id -> topic of its declarative Subscription (contracts/dapr-components)."""
    topics = {}
    for sub in by_kind(docs, "Subscription").values():
        for app in sub.get("scopes") or []:
            topics[app] = sub["spec"]["topic"]
    return topics


def _component_meta(docs: list[dict], component: str) -> dict[str, dict]:
    comp = find(docs, "Component", component) or {"spec": {}}
    return {i["name"]: i for i in comp["spec"].get("metadata", [])}


def autoscaling_errors(docs: list[dict], profile: str) -> list[str]:
    errors = []
    apps = by_kind(docs, "SpinApp")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    sos = by_kind(docs, "ScaledObject")
    targets: dict[str, list[str]] = {}
    for kind, objs in (("HorizontalPodAutoscaler", hpas), ("ScaledObject", sos)):
        for n, o in objs.items():
            ref = o["spec"]["scaleTargetRef"]
            targets.setdefault(ref["name"], []).append(f"{kind}/{n}")
            if ref.get("kind", "Deployment") != "Deployment" or ref.get("apiVersion", "apps/v1") != "apps/v1":
                errors.append(f"{kind}/{n}: scales {ref}, not the Deployment spin-operator makes")
            if ref["name"] not in apps:
                errors.append(f"{kind}/{n}: target {ref['name']} is no SpinApp's Deployment")
            elif not apps[ref["name"]]["spec"].get("enableAutoscaling"):
                errors.append(f"{kind}/{n}: SpinApp {ref['name']} does not leave replicas to it")
    for target, who in targets.items():
        if len(who) > 1:
            errors.append(f"Deployment {target} has several autoscalers: {who}")
    # task-api on its container's CPU
    hpa = hpas.get("task-api")
    if hpa is None:
        errors.append("no HorizontalPodAutoscaler task-api")
    else:
        metrics = hpa["spec"].get("metrics", [])
        cr = [m["containerResource"] for m in metrics if m.get("type") == "ContainerResource"]
        if not cr or cr[0]["name"] != "cpu" or cr[0]["container"] != "task-api":
            errors.append(f"HPA task-api: not on the task-api container's CPU: {metrics}")
    # consumers on their group's lag
    if set(sos) != CONSUMERS:
        errors.append(f"ScaledObjects {sorted(sos)} != the consumers {sorted(CONSUMERS)}")
    topics = subscription_topics(docs)
    pubsub = _component_meta(docs, "pubsub")
    auths = by_kind(docs, "TriggerAuthentication")
    for n, so in sos.items():
        ref = so["spec"]["scaleTargetRef"]
        if ref.get("envSourceContainerName", n) != ref["name"]:
            errors.append(f"ScaledObject/{n}: envSourceContainerName is not the app container")
        triggers = so["spec"]["triggers"]
        if len(triggers) != 1 or triggers[0]["type"] != "kafka":
            errors.append(f"ScaledObject/{n}: expected one kafka trigger")
            continue
        md = triggers[0]["metadata"]
        if md.get("consumerGroup") != n:
            errors.append(f"ScaledObject/{n}: consumerGroup {md.get('consumerGroup')!r} is not the app-id")
        if md.get("topic") != topics.get(n):
            errors.append(f"ScaledObject/{n}: topic {md.get('topic')!r}, its Subscription's is {topics.get(n)!r}")
        if md.get("offsetResetPolicy") != "earliest":
            errors.append(f"ScaledObject/{n}: offsetResetPolicy must be earliest (Dapr reads from the oldest)")
        if profile == "local":
            brokers = (pubsub.get("brokers") or {}).get("value")
            if md.get("bootstrapServers") != brokers:
                errors.append(f"ScaledObject/{n}: bootstrapServers {md.get('bootstrapServers')!r}, the sidecars use {brokers!r}")
            if md.get("sasl", "none") != "none" or md.get("tls", "disable") != "disable":
                errors.append(f"ScaledObject/{n}: the local broker is plaintext")
        else:
            env = md.get("bootstrapServersFromEnv")
            variables = {spin_env_name(v["name"]): v for v in apps.get(n, {}).get("spec", {}).get("variables", [])}
            ref_b = ((variables.get(env) or {}).get("valueFrom") or {}).get("secretKeyRef")
            if "bootstrapServers" in md or ref_b != (pubsub.get("brokers") or {}).get("secretKeyRef"):
                errors.append(
                    f"ScaledObject/{n}: brokers must come from the sidecars' Secret key through "
                    f"{env!r} (SpinApp variable), got {ref_b}"
                )
            mech = (pubsub.get("saslMechanism") or {}).get("value")
            want_sasl = {"SHA-256": "scram_sha256", "SHA-512": "scram_sha512"}.get(mech)
            if md.get("sasl") != want_sasl or md.get("tls") != "enable":
                errors.append(f"ScaledObject/{n}: sasl {md.get('sasl')!r} tls {md.get('tls')!r}, want {want_sasl} over TLS")
            auth = (triggers[0].get("authenticationRef") or {}).get("name")
            params = {r["parameter"] for r in (auths.get(auth) or {}).get("spec", {}).get("secretTargetRef", [])}
            if params != {"username", "password"}:
                errors.append(f"ScaledObject/{n}: TriggerAuthentication {auth!r} gives {sorted(params)}")
    return errors


def _backend(path: dict) -> tuple[str, Any]:
    svc = path["backend"]["service"]
    port = svc["port"].get("number", svc["port"].get("name"))
    return svc["name"], port


def ingress_routes(docs: list[dict]) -> dict[tuple[str, str], tuple[str, Any]]:
    routes = {}
    for ing in by_kind(docs, "Ingress").values():
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                routes[(p["path"], p["pathType"])] = _backend(p)
    return routes


def route_for(routes: dict, path: str) -> tuple[str, Any] | None:
    """The backend an Ingress controller picks for a path: Exact first, then the longest Prefix
    that matches whole path elements."""
    if (path, "Exact") in routes:
        return routes[(path, "Exact")]
    best = None
    for (p, t), backend in routes.items():
        if t != "Prefix":
            continue
        if p == "/" or path == p or path.startswith(p.rstrip("/") + "/"):
            if best is None or len(p) > len(best[0]):
                best = (p, backend)
    return best[1] if best else None


def ingress_errors(docs: list[dict]) -> list[str]:
    errors = []
    routes = ingress_routes(docs)
    if routes != EXPECTED_ROUTES:
        errors.append(f"Ingress routes {routes} != {EXPECTED_ROUTES}")
    for path, owner in DAPR_ONLY_ROUTES.items():
        got = route_for(routes, path)
        if got and got[0] == owner:
            errors.append(f"Ingress sends the Dapr-only route {path} to {owner}")
    services = set(by_kind(docs, "SpinApp")) | set(by_kind(docs, "Service"))
    for key, (svc, _port) in routes.items():
        if svc not in services:
            errors.append(f"Ingress {key} -> Service {svc}, which nothing here makes")
    return errors


def pushpin_errors(docs: list[dict]) -> list[str]:
    errors = []
    svc = find(docs, "Service", "pushpin")
    dep = find(docs, "Deployment", "pushpin")
    if not svc or not dep:
        return ["no Pushpin Deployment and Service"]
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    if ports != {"http": 7999, "publish": 5561}:
        errors.append(f"Service pushpin ports {ports}")
    want_url = f"http://pushpin.{NAMESPACE}.svc.cluster.local:{ports.get('publish')}"
    url = runtime_config_values().get("pushpin_publish_url")
    if url != want_url:
        errors.append(f"realtime's pushpin_publish_url {url!r} != {want_url!r}")
    cms = [
        v["configMap"]["name"]
        for v in dep["spec"]["template"]["spec"].get("volumes", [])
        if "configMap" in v
    ]
    cm = find(docs, "ConfigMap", cms[0]) if cms else None
    if not cm or set(cm["data"]) != {"pushpin.conf.in", "routes"}:
        errors.append("Pushpin's ConfigMap (pushpin.conf.in, routes) is not mounted")
    else:
        targets = set(re.findall(r"^\*\S*\s+(\S+?)(?:,|$)", cm["data"]["routes"], re.MULTILINE))
        if targets != {f"realtime.{NAMESPACE}.svc.cluster.local:80"}:
            errors.append(f"Pushpin routes go to {targets}, not the realtime Service")
    np = find(docs, "NetworkPolicy", "pushpin")
    publish_from = [
        r.get("from")
        for r in (np or {}).get("spec", {}).get("ingress", [])
        if any(p.get("port") in ("publish", 5561) for p in r.get("ports", []))
    ]
    if publish_from != [[{"podSelector": {"matchLabels": {"core.spinkube.dev/app-name": "realtime"}}}]]:
        errors.append(f"the publish port is open to {publish_from}, not only the realtime pods")
    return errors


def migration_errors(docs: list[dict], profile: str) -> list[str]:
    errors = []
    job = find(docs, "Job", "todo-migrate")
    if job is None:
        return ["no Job todo-migrate"]
    c = job["spec"]["template"]["spec"]["containers"][0]
    if "todo-migrate" not in c["image"]:
        errors.append(f"the migrations Job runs {c['image']}")
    env = {e["name"]: e for e in c.get("env", [])}
    ref = (env.get("TODO_PG_URL", {}).get("valueFrom") or {}).get("secretKeyRef")
    if ref != {"name": "postgres-credentials", "key": "connectionString"}:
        errors.append(f"the Job's TODO_PG_URL comes from {ref}")
    phased = sorted(
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if (d["metadata"].get("labels") or {}).get(PHASE_LABEL[0]) == PHASE_LABEL[1]
    )
    want = ["Job/todo-migrate"] + (["Service/postgres", "StatefulSet/postgres"] if profile == "local" else [])
    if phased != sorted(want):
        errors.append(f"the database phase is {phased}, want {sorted(want)}")
    return errors


ALL_STATIC_CHECKS = (
    "spinapp_errors",
    "dapr_annotation_errors",
    "variable_errors",
    "secret_errors",
    "autoscaling_errors",
    "ingress_errors",
    "pushpin_errors",
    "migration_errors",
)

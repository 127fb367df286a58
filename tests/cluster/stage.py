"""The cluster stage's own infrastructure (tests/cluster): its Kafka, PostgreSQL and mail sink on the
node's bridge address (so pods reach them, and never the dev stack's, whose ports it does not use),
the project's images in the node's registry, the local overlay with only the in-cluster addresses
and the registry's image names changed, deployed the way deploy/README.md tells users
(deploy/secrets.sh local, deploy/apply.sh local). Everything it starts it stops (Stage.stop)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
BIN = CACHE / "bin"
NODE_RUN = Path(os.environ.get("K8S_RUN", CACHE / "run" / "k8s-node"))
STAGE_RUN = Path(os.environ.get("TODO_CLUSTER_STAGE_RUN", CACHE / "run" / "k8s-node-stage"))
KUBECONFIG = NODE_RUN / "admin.kubeconfig"
# PostgreSQL runs as the postgres user, which cannot enter /root: its folder is elsewhere (the dev
# stack's is /var/lib/todo-events/postgres), made afresh by each run.
PG_ROOT = Path(os.environ.get("TODO_CLUSTER_PGROOT", "/var/lib/todo-events/k8s-node-stage"))
NODE_IP = "10.244.0.1"
# Pods name the machine host.minikube.internal, as on Minikube (the node's CoreDNS answers the
# bridge address): contracts/dapr-components/local keeps its broker host, only the port differs.
HOST_NAME = "host.minikube.internal"
# Ports of the stage's own servers, on NODE_IP: none of the dev stack's (9092/9093, 5432, 2525, ...).
KAFKA_PORT = int(os.environ.get("TODO_CLUSTER_KAFKA_PORT", "19092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("TODO_CLUSTER_KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("TODO_CLUSTER_PG_PORT", "15432"))
SMTP_PORT = int(os.environ.get("TODO_CLUSTER_SMTP_PORT", "12525"))
NS = "todo"
# Spin 4.0.2 in a container, pushed by `cluster.sh up --node` (tools/k8s/node.sh, spintainer_image)
SPINTAINER = f"{NODE_IP}:25000/spintainer:4.0.2"
APPS = ["task-api", "audit", "recurring", "notification", "realtime", "metrics", "web"]
SIDECAR_APPS = [a for a in APPS if a != "web"]


def kubectl(*args: str, timeout: float = 120, check: bool = True, input: str | None = None) -> str:
    p = subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args], capture_output=True,
                       text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def kjson(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json"))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(what: str, fn, timeout: float = 60.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 (shown in the message)
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last!r})")


@dataclass
class Stage:
    """The stage's processes (pid -> name), its secrets and the images it pushed."""

    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    pg_password: str = field(default_factory=lambda: secrets.token_hex(16))
    images: dict[str, str] = field(default_factory=dict)
    pg_bindir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    # --- the machine's side -------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        log = open(STAGE_RUN / "logs" / f"{name}.log", "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, **kw)
        self.procs[name] = p
        (STAGE_RUN / "pids" / f"{name}.pid").write_text(str(p.pid))
        return p

    def start(self) -> None:
        """A fresh run folder, then Kafka, PostgreSQL and the mail sink on the node's address."""
        for what, port in (("Kafka", KAFKA_PORT), ("Kafka's controller", KAFKA_CONTROLLER_PORT),
                           ("PostgreSQL", PG_PORT), ("the mail sink", SMTP_PORT)):
            assert not port_open(NODE_IP, port), f"{NODE_IP}:{port} ({what} of the stage) is taken: another stage running?"
        assert (Path("/sys/class/net/todok8s0")).exists(), \
            "no bridge todok8s0: bring the node up first (tools/k8s/cluster.sh up --node)"
        if STAGE_RUN.exists():
            shutil.rmtree(STAGE_RUN)
        for d in ("logs", "pids", "kafka", "mail"):
            (STAGE_RUN / d).mkdir(parents=True)
        t0 = time.monotonic()
        self.start_kafka()
        self.start_postgres()
        self.spawn("mailsink", [str(CACHE / "venv/bin/python"), str(ROOT / "tools/mailsink/mailsink.py"),
                                "--listen", f"{NODE_IP}:{SMTP_PORT}", "--dir", str(STAGE_RUN / "mail")])
        wait_until("the mail sink listens", lambda: port_open(NODE_IP, SMTP_PORT), 30)
        self.timings["servers"] = time.monotonic() - t0

    def kafka_env(self) -> dict:
        return {**os.environ, "KAFKA_HOST": NODE_IP, "KAFKA_PORT": str(KAFKA_PORT),
                "KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT)}

    def kafka_sh(self, *args: str, timeout: float = 120) -> str:
        p = subprocess.run([str(ROOT / "tools/kafka/kafka.sh"), *args], capture_output=True, text=True,
                           env=self.kafka_env(), timeout=timeout)
        assert p.returncode == 0, f"kafka.sh {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def start_kafka(self) -> None:
        p = self.spawn("kafka", [str(ROOT / "tools/kafka/kafka.sh"), "start", str(STAGE_RUN / "kafka"),
                                 str(STAGE_RUN / "logs/kafka-broker.log")], env=self.kafka_env())
        r = subprocess.run([str(ROOT / "tools/kafka/kafka.sh"), "wait", "90"], capture_output=True, text=True,
                           env={**self.kafka_env(), "KAFKA_PID": str(p.pid)}, timeout=120)
        assert r.returncode == 0, (f"the stage's Kafka at {NODE_IP}:{KAFKA_PORT} did not get ready: {r.stderr}\n"
                                   + (STAGE_RUN / "logs/kafka.log").read_text()[-2000:])
        self.kafka_sh("create-topics")

    def start_postgres(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
        assert bins, "PostgreSQL is not installed (tools/devstack/setup.sh installs Debian's)"
        self.pg_bindir = bins[-1].parent
        if PG_ROOT.exists():
            shutil.rmtree(PG_ROOT)
        data, sock = PG_ROOT / "data", PG_ROOT / "sock"
        for d in (data, sock):
            d.mkdir(parents=True)
            shutil.chown(d, "postgres", "postgres")
        data.chmod(0o700)
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        r = subprocess.run([*as_pg, str(self.pg_bindir / "initdb"), "-D", str(data), "-U", "postgres",
                            "--auth-local=peer", "--auth-host=scram-sha-256"], capture_output=True, text=True)
        assert r.returncode == 0, f"initdb failed: {r.stdout}\n{r.stderr}"
        with open(data / "pg_hba.conf", "a") as f:  # the pods (the bridge's /24), with a password
            f.write("host all all 10.244.0.0/24 scram-sha-256\n")
        self.spawn("postgres", [*as_pg, str(self.pg_bindir / "postgres"), "-D", str(data), "-p", str(PG_PORT),
                                "-c", f"listen_addresses={NODE_IP}", "-c", f"unix_socket_directories={sock}",
                                "-c", "fsync=off", "-c", "max_connections=200"])
        wait_until("PostgreSQL accepts connections", lambda: subprocess.run(
            [str(self.pg_bindir / "pg_isready"), "-q", "-h", NODE_IP, "-p", str(PG_PORT)]).returncode == 0, 30)
        psql = [*as_pg, str(self.pg_bindir / "psql"), "-h", str(sock), "-p", str(PG_PORT), "-U", "postgres",
                "-v", "ON_ERROR_STOP=1", "-qAt", "-d", "postgres"]
        for sql in (f"CREATE ROLE todo LOGIN PASSWORD '{self.pg_password}'", "CREATE DATABASE todo OWNER todo"):
            r = subprocess.run([*psql, "-c", sql], capture_output=True, text=True)
            assert r.returncode == 0, f"psql {sql.split(' PASSWORD')[0]} failed: {r.stderr}"

    def pg_dsn(self) -> str:
        return f"host={NODE_IP} port={PG_PORT} user=todo password={self.pg_password} dbname=todo sslmode=disable"

    def stop_one(self, name: str) -> None:
        """Stops one of the stage's servers (SIGTERM to its session) and waits for it."""
        p = self.procs[name]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=60)

    def stop(self) -> list[str]:
        """Stops what start() started, in reverse; answers what would not stop."""
        stuck = []
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    stuck.append(f"{name} (pid {p.pid})")
        return stuck

    # --- the cluster's side -------------------------------------------------------------------

    def push_images(self) -> None:
        t0 = time.monotonic()
        r = subprocess.run([str(ROOT / "tools/k8s/app-images.sh")], capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"tools/k8s/app-images.sh failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        for line in (NODE_RUN / "app-images.env").read_text().splitlines():
            k, _, v = line.partition("=")
            self.images[k] = v
        self.timings["images"] = time.monotonic() - t0

    def overlay(self) -> Path:
        """deploy/overlays/local as deploy/README.md tells a user to adapt it: without the
        in-cluster PostgreSQL (the stage's server instead, through TODO_PG_URL) and Mailpit (the
        stage's mail sink, through SMTP_*), the registry's image names, Kafka's port; written to
        the stage's folder (every path relative to it). Nothing else changes."""
        local = ROOT / "deploy/overlays/local"
        out = STAGE_RUN / "overlay"
        out.mkdir(exist_ok=True)
        k = yaml.safe_load((local / "kustomization.yaml").read_text())
        # kustomize refuses absolute paths: relative ones from the stage's folder to the checkout
        k["resources"] = [os.path.relpath((local / r).resolve(), out) for r in k["resources"]]
        dropped = [c for c in k.pop("components", [])]
        assert sorted(Path(c).name for c in dropped) == ["mailpit", "postgres"], \
            f"deploy/overlays/local's components changed ({dropped}): revisit tests/cluster/stage.py"
        images = {"todo-migrate": self.images["TODO_MIGRATE_IMAGE"], "todo-pushpin": self.images["TODO_PUSHPIN_IMAGE"]}
        for entry in k["images"]:
            ref = images.pop(entry["name"])
            name, _, tag = ref.rpartition(":")
            entry.pop("newTag", None)
            entry["newName"], entry["newTag"] = name, tag
        assert not images, f"the local overlay no longer names images {sorted(images)}"
        seen = set()
        for p in k["patches"]:
            ops = yaml.safe_load(p["patch"])
            for op in ops:
                if op["path"] == "/spec/image":
                    op["value"] = self.images["TODO_APP_IMAGE"]
                    seen.add("app")
                elif op["path"] == "/spec/triggers/0/metadata/bootstrapServers":
                    op["value"] = f"{HOST_NAME}:{KAFKA_PORT}"
                    seen.add("keda")
            p["patch"] = yaml.safe_dump(ops, sort_keys=False)
        assert seen == {"app", "keda"}, f"the local overlay's patches changed (found {seen})"
        # The executor: containerd-shim-spin v0.24.0 runs a pod's Linux containers without the
        # environment their spec gives them (runwasi's executor makes youki's setup_envs a no-op
        # for every container, Wasm or not), so the injected daprd starts without
        # DAPR_TRUST_ANCHORS, NAMESPACE, its tokens... and exits ("trust anchors are required").
        # test_1_system shows it; docs/k8s.md has the details. The SpinApps run on spin-operator's
        # other executor instead: Spin in an ordinary container (runc), the sidecar beside it.
        k["patches"].append({
            "target": {"group": "core.spinkube.dev", "kind": "SpinAppExecutor", "name": "containerd-shim-spin"},
            "patch": yaml.safe_dump([
                {"op": "test", "path": "/spec/deploymentConfig/runtimeClassName", "value": "wasmtime-spin-v2"},
                {"op": "remove", "path": "/spec/deploymentConfig/runtimeClassName"},
                {"op": "add", "path": "/spec/deploymentConfig/spinImage", "value": SPINTAINER},
            ], sort_keys=False),
        })
        # The broker of contracts/dapr-components/local/pubsub.yaml: the same host, the stage's port.
        k["patches"].append({
            "target": {"group": "dapr.io", "kind": "Component", "name": "pubsub"},
            "patch": yaml.safe_dump([
                {"op": "test", "path": "/spec/metadata/0/name", "value": "brokers"},
                {"op": "test", "path": "/spec/metadata/0/value", "value": f"{HOST_NAME}:9092"},
                {"op": "replace", "path": "/spec/metadata/0/value", "value": f"{HOST_NAME}:{KAFKA_PORT}"},
            ], sort_keys=False),
        })
        (out / "kustomization.yaml").write_text(
            "# Generated by tests/cluster/stage.py from deploy/overlays/local (see its docstring).\n"
            + yaml.safe_dump(k, sort_keys=False))
        return out

    def deploy(self) -> None:
        """A fresh namespace, then deploy/secrets.sh local and deploy/apply.sh local."""
        t0 = time.monotonic()
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=300)
        overlay = self.overlay()
        env = {**os.environ, "KUBECONFIG": str(KUBECONFIG), "KUBECTL": str(BIN / "kubectl"),
               "TODO_PG_URL": f"postgres://todo:{self.pg_password}@{HOST_NAME}:{PG_PORT}/todo?sslmode=disable",
               "SMTP_HOST": HOST_NAME, "SMTP_PORT": str(SMTP_PORT), "SMTP_FROM": "todo@localhost",
               "TODO_OVERLAY": str(overlay)}
        for argv in (["deploy/secrets.sh", "local"], ["deploy/apply.sh", "local", "--timeout", "600"]):
            r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
            (STAGE_RUN / "logs" / f"{Path(argv[0]).stem}.log").write_text(r.stdout + r.stderr)
            assert r.returncode == 0, (f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}\n"
                                       + kubectl("-n", NS, "get", "pods", "-o", "wide", check=False))
        self.timings["deploy"] = time.monotonic() - t0

    def service_url(self, name: str, port: int | None = None) -> str:
        svc = kjson("-n", NS, "get", "service", name)
        ip = svc["spec"]["clusterIP"]
        port = port or svc["spec"]["ports"][0]["port"]
        return f"http://{ip}:{port}"

    def secret(self, name: str, key: str) -> str:
        import base64
        return base64.b64decode(kjson("-n", NS, "get", "secret", name)["data"][key]).decode()

"""Each overlay on a real control plane (kube-apiserver, kube-controller-manager 1.37.2, spin-operator
0.6.1; no nodes, so no pod runs): deploy/secrets.sh and deploy/apply.sh do what deploy/README.md
says, `kubectl apply -k --server-side --validate=strict` accepts the overlay, and what spin-operator
makes of each SpinApp is right: a Deployment whose pod template carries the Dapr annotations, the
runtime class, the selected component and the SPIN_VARIABLE_* environment from Secrets that exist,
and a Service; the HPA and the KEDA ScaledObjects point at those Deployments. Broken variants of
the overlay (fixtures/broken/) are refused with the API server's own message."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

import deploy_checks as dc
from deploy_checks import CLOUD_ENV

BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"
NS = dc.NAMESPACE


def _secret_keys(cluster) -> dict[str, set[str]]:
    return {s["metadata"]["name"]: set(s.get("data") or {}) for s in cluster.get("secrets")}


class OverlayOnControlPlane:
    """The tests every overlay passes, in order: they build on each other (pytest runs a class's
    tests in definition order, the inherited ones first, so a subclass's own tests come last)."""

    profile: str
    secrets_env: dict = {}
    # the Secret test_2b deletes to see apply.sh refuse to start
    probe_secret: str
    refusals: list

    def test_0_secrets_script_dry_run_creates_nothing(self, cluster):
        out = cluster.run(dc.DEPLOY / "secrets.sh", self.profile, "--dry-run", env=self.secrets_env)
        made = {line.split()[3] for line in out.stdout.splitlines() if line.startswith("secrets.sh: would create")}
        assert made == {f"{NS}/{s}" for s, _ in dc.secrets_script_list(self.profile)}, out.stdout
        assert NS not in {n["metadata"]["name"] for n in cluster.get("namespaces", namespace=None)}

    def test_0b_secrets_script_refuses_bad_settings(self, cluster):
        """(args, environment, message on stderr) of each refusal; nothing is created."""
        for args, env, message in self.refusals:
            out = cluster.run(dc.DEPLOY / "secrets.sh", self.profile, *args, check=False,
                              env={**self.secrets_env, **env})
            assert out.returncode != 0 and message in out.stderr, (args, env, out.stderr)
        assert NS not in {n["metadata"]["name"] for n in cluster.get("namespaces", namespace=None)}

    def test_1_secrets_script_creates_the_namespace_and_secrets(self, cluster):
        out = cluster.run(dc.DEPLOY / "secrets.sh", self.profile, env=self.secrets_env)
        assert f"created namespace {NS}" in out.stdout
        have = _secret_keys(cluster)
        for secret, key in dc.secrets_script_list(self.profile):
            assert key in have.get(secret, set()), f"{secret}/{key} not created:\n{out.stdout}"
        before = {s["metadata"]["name"]: s["data"] for s in cluster.get("secrets")}
        again = cluster.run(dc.DEPLOY / "secrets.sh", self.profile, env=self.secrets_env)
        assert "created" not in again.stdout, again.stdout
        after = {s["metadata"]["name"]: s["data"] for s in cluster.get("secrets")}
        assert before == after, "a second run changed a Secret"
        # nothing secret on stdout or stderr
        secret_keys = {"token", "sig-key", "secret", "password", "kafka-password", "smtp-password",
                       "pg-url", "connectionString"}
        values = [base64.b64decode(v).decode() for data in after.values() for k, v in data.items()
                  if k in secret_keys]
        values = [v for v in values if len(v) >= 8]
        assert values and not any(v in out.stdout + out.stderr for v in values)

    def test_1b_the_runtime_config_holds_the_secrets_values(self, cluster):
        """todo-runtime-config: the template with every ${secret:...} replaced by that Secret's
        value in the cluster, every spin.toml variable in its static provider."""
        import tomllib

        secret, key = dc.RUNTIME_CONFIG_SECRET
        data = {s["metadata"]["name"]: s["data"] for s in cluster.get("secrets")}
        toml = tomllib.loads(base64.b64decode(data[secret][key]).decode())
        [provider] = toml["variables_provider"]
        assert provider["type"] == "static"
        assert set(provider["values"]) == set(dc.spin_variables())
        for var, template in dc.runtime_config_values().items():
            ref = dc.runtime_config_secret_of(template)
            want = base64.b64decode(data[ref[0]][ref[1]]).decode() if ref else template
            assert provider["values"][var] == want, f"{var}: not the value of {ref or 'the template'}"

    def test_2_apply_script_applies_the_database_phase_first(self, cluster):
        out = cluster.run(dc.DEPLOY / "apply.sh", self.profile, "--no-wait", timeout=300)
        first, _, rest = out.stdout.partition(f"applying deploy/overlays/{self.profile}")
        phase = sorted(re.findall(r"^(\S+) serverside-applied$", first, re.MULTILINE))
        want = ["job.batch/todo-migrate"]
        if self.profile == "local":
            want += ["service/postgres", "statefulset.apps/postgres"]
        assert phase == sorted(want), first
        applied = re.findall(r"^(\S+) serverside-applied$", rest, re.MULTILINE)
        rendered = dc.render_profile(self.profile)
        assert len(applied) == len(rendered), rest

    def test_2b_the_apply_script_refuses_a_missing_secret(self, cluster):
        cluster.k("-n", NS, "delete", "secret", self.probe_secret)
        out = cluster.run(dc.DEPLOY / "apply.sh", self.profile, "--no-wait", check=False)
        assert out.returncode != 0 and self.probe_secret in out.stderr, out.stderr
        assert "applying" not in out.stdout
        cluster.run(dc.DEPLOY / "secrets.sh", self.profile, env=self.secrets_env)

    def test_3_apply_is_accepted_with_strict_server_side_validation(self, cluster):
        """The overlay itself, applied as the README's raw commands do (again, after apply.sh):
        accepted without an error or a warning."""
        out = cluster.k("apply", "-k", dc.DEPLOY / "overlays" / self.profile, "--server-side",
                        "--validate=strict")
        assert "serverside-applied" in out.stdout and not out.stderr.strip(), out.stderr

    def test_4_spin_operator_makes_a_deployment_and_service_per_spinapp(self, cluster):
        apps = {a["metadata"]["name"]: a for a in cluster.get("spinapps")}
        assert set(apps) == set(dc.SERVICES)
        deployments = cluster.wait_for(
            "spin-operator's Deployments",
            lambda: (lambda d: d if set(dc.SERVICES) <= set(d) else None)(
                {x["metadata"]["name"]: x for x in cluster.get("deployments")}),
        )
        services = {s["metadata"]["name"]: s for s in cluster.get("services")}
        executor = cluster.get("spinappexecutors", dc.EXECUTOR)
        runtime_class = executor["spec"]["deploymentConfig"]["runtimeClassName"]
        cluster.get("runtimeclasses", runtime_class, namespace=None)  # exists (SpinKube installs it)
        secrets = _secret_keys(cluster)
        for name, app in apps.items():
            dep = deployments[name]
            owners = [(o["kind"], o["name"]) for o in dep["metadata"].get("ownerReferences", [])]
            assert ("SpinApp", name) in owners, owners
            tmpl = dep["spec"]["template"]
            pod = tmpl["spec"]
            assert pod["runtimeClassName"] == dc.RUNTIME_CLASS
            assert tmpl["metadata"].get("annotations", {}) == app["spec"].get("podAnnotations", {})
            if name in dc.DAPR_APPS:
                ann = tmpl["metadata"]["annotations"]
                assert ann["dapr.io/enabled"] == "true" and ann["dapr.io/app-id"] == name
                assert ann["dapr.io/app-port"] == "80"
                cluster.get("configurations.dapr.io", ann["dapr.io/config"])
                for a in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
                    assert "token" in secrets.get(ann[a], set()), f"{name}: {a} {ann[a]}/token"
            else:
                assert not any(k.startswith("dapr.io/") for k in tmpl["metadata"].get("annotations", {}))
            [c] = pod["containers"]
            assert c["name"] == name and c["image"] == app["spec"]["image"]
            env = {e["name"]: e for e in c["env"]}
            assert env["SPIN_COMPONENTS_TO_RETAIN"]["value"] == name
            assert env["SPIN_HTTP_LISTEN_ADDR"]["value"] == "0.0.0.0:80"
            # Spin's variables: the runtime configuration Secret mounted at /runtime-config.toml
            # (where the shim and `spin up --runtime-config-file` read it), none as SPIN_VARIABLE_*.
            secret, key = dc.RUNTIME_CONFIG_SECRET
            assert key in secrets.get(secret, set()), f"{name}: {secret}/{key} missing"
            vols = {v["name"]: v for v in pod.get("volumes", [])}
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            mount = mounts.get("/runtime-config.toml")
            assert mount, f"{name}: nothing mounted at /runtime-config.toml: {sorted(mounts)}"
            assert vols[mount["name"]]["secret"]["secretName"] == secret, vols[mount["name"]]
            leaked = sorted(set(env) & {dc.spin_env_name(v) for v in dc.spin_variables()})
            assert not leaked, f"{name}: Spin variables as environment variables: {leaked}"
            for probe in ("readinessProbe", "livenessProbe"):
                assert c[probe]["httpGet"]["path"] == "/.well-known/spin/health"
                assert c[probe]["httpGet"]["port"] == 80
            if app["spec"].get("enableAutoscaling"):
                assert dep["spec"]["replicas"] >= 1  # defaulted to 1 once; the autoscaler owns it
            else:
                assert dep["spec"]["replicas"] == app["spec"]["replicas"]
            svc = services[name]
            assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, "http-app")]
            labels = tmpl["metadata"]["labels"]
            assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())

    def test_5_the_hpa_controller_finds_task_apis_deployment(self, cluster):
        hpa = cluster.get("hpa", "task-api")
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "task-api"}

        def able():
            conds = {c["type"]: c for c in cluster.get("hpa", "task-api").get("status", {}).get("conditions", [])}
            c = conds.get("AbleToScale")
            return c if c and c["status"] == "True" else None

        # kube-controller-manager's HPA controller syncs every 15 s; its first look may precede
        # spin-operator's Deployment.
        cond = cluster.wait_for("the HPA controller to get task-api's scale", able, timeout=90)
        assert cond["reason"] in ("SucceededGetScale", "SucceededRescale"), cond
        # It acts on it: below minReplicas it scales the Deployment up (no metrics needed for
        # that), and spin-operator leaves the count alone (enableAutoscaling).
        want = hpa["spec"]["minReplicas"]
        cluster.wait_for(
            f"task-api's Deployment at the HPA's minReplicas {want}",
            lambda: cluster.get("deployments", "task-api")["spec"]["replicas"] == want,
            timeout=60,
        )

    def test_6_scaledobjects_point_at_the_consumers_deployments(self, cluster):
        deployments = {d["metadata"]["name"]: d for d in cluster.get("deployments")}
        auths = {t["metadata"]["name"]: t for t in cluster.get("triggerauthentications.keda.sh")}
        secrets = _secret_keys(cluster)
        sos = {s["metadata"]["name"]: s for s in cluster.get("scaledobjects.keda.sh")}
        assert set(sos) == dc.CONSUMERS
        for name, so in sos.items():
            ref = so["spec"]["scaleTargetRef"]
            dep = deployments[ref["name"]]
            containers = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}
            assert ref["envSourceContainerName"] in containers
            [trigger] = so["spec"]["triggers"]
            md = trigger["metadata"]
            assert md["consumerGroup"] == dep["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
            if "bootstrapServersFromEnv" in md:  # cloud: the env var exists in the scaled container
                env = {e["name"]: e for e in containers[ref["envSourceContainerName"]]["env"]}
                sref = env[md["bootstrapServersFromEnv"]]["valueFrom"]["secretKeyRef"]
                assert sref["key"] in secrets[sref["name"]]
            if "authenticationRef" in trigger:
                ta = auths[trigger["authenticationRef"]["name"]]
                for r in ta["spec"]["secretTargetRef"]:
                    assert r["key"] in secrets.get(r["name"], set()), r
            else:
                assert self.profile == "local"

    def test_7_ingress_pushpin_job_and_dapr_resources_hang_together(self, cluster):
        services = {s["metadata"]["name"]: s for s in cluster.get("services")}
        for ing in cluster.get("ingresses"):
            for rule in ing["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    b = p["backend"]["service"]
                    ports = services[b["name"]]["spec"]["ports"]
                    assert any(b["port"].get("number") == x["port"] or b["port"].get("name") == x.get("name")
                               for x in ports), (p, ports)
        dep = cluster.get("deployments", "pushpin")
        [cm] = [v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
        assert set(cluster.get("configmaps", cm)["data"]) == {"pushpin.conf.in", "routes"}
        assert "sig-key" in _secret_keys(cluster)["pushpin-sig-key"]
        # the Job controller made the migration's pod (it stays Pending: no nodes)
        pods = cluster.wait_for(
            "the migrations Job's pod",
            lambda: [p for p in cluster.get("pods")
                     if p["metadata"].get("labels", {}).get("job-name") == "todo-migrate"],
        )
        ref = pods[0]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in _secret_keys(cluster)[ref["name"]]
        names = {(d["kind"], d["metadata"]["name"]) for d in dc.render_profile(self.profile)}
        for kind, resource in (("Component", "components"), ("Subscription", "subscriptions"),
                               ("Resiliency", "resiliencies"), ("Configuration", "configurations")):
            got = {i["metadata"]["name"] for i in cluster.get(f"{resource}.dapr.io")}
            assert got == {n for k, n in names if k == kind}

    def test_8_apply_script_again_reruns_the_migrations(self, cluster):
        uid = cluster.get("jobs", "todo-migrate")["metadata"]["uid"]
        replicas = cluster.get("deployments", "task-api")["spec"]["replicas"]
        cluster.run(dc.DEPLOY / "apply.sh", self.profile, "--no-wait", timeout=300)
        assert cluster.get("jobs", "todo-migrate")["metadata"]["uid"] != uid
        # re-applying the SpinApp does not take the replica count back from the HPA
        assert cluster.get("deployments", "task-api")["spec"]["replicas"] == replicas


class TestLocalOverlay(OverlayOnControlPlane):
    profile = "local"
    probe_secret = "dapr-app-token"
    refusals = [(["--force"], {}, "Creates the namespace `todo`")]  # unknown option: the usage

    @pytest.mark.parametrize(
        "case, message",
        [
            ("spinapp-unknown-field", ".spec.replicaCount: field not declared in schema"),
            ("deployment-unknown-field",
             '.spec.template.spec.containers[name="pushpin"].imagePullPolcy: field not declared in schema'),
            ("secretkeyref-without-key",
             'The SpinApp "audit" is invalid: spec.variables[0].valueFrom.secretKeyRef.key: Required value'),
            ("scaledobject-min-above-max", "minReplicaCount must be less than or equal to maxReplicaCount"),
            ("hpa-removed-apiversion",
             'no matches for kind "HorizontalPodAutoscaler" in version "autoscaling/v2beta2"'),
        ],
    )
    def test_9_broken_variants_are_refused_with_the_api_servers_message(self, cluster, case, message):
        out = cluster.k("apply", "-k", BROKEN / case, "--server-side", "--validate=strict",
                        "--dry-run=server", check=False)
        assert out.returncode != 0, out.stdout
        assert message in out.stderr, out.stderr
        # only the broken object is refused: the rest of the overlay passes the same dry run
        assert len(re.findall(r"serverside-applied \(server dry run\)", out.stdout)) >= 25

    def test_9_removed_apiversion_the_api_server_itself_answers_not_found(self, cluster, kubectl):
        [hpa] = [d for d in dc.render(BROKEN / "hpa-removed-apiversion", kubectl)
                 if d["kind"] == "HorizontalPodAutoscaler"]
        out = cluster.k("create", "--raw", f"/apis/autoscaling/v2beta2/namespaces/{NS}/horizontalpodautoscalers",
                        "-f", "-", input=json.dumps(hpa), check=False)
        assert out.returncode != 0
        assert "Error from server (NotFound): the server could not find the requested resource" in out.stderr

    def test_9_a_missing_secret_is_accepted_by_the_api_server(self, cluster, kubectl):
        """Referential integrity is no API server check: the typo'd Secret passes the server's
        dry run (the pod would fail later); test_deploy_render's secret check refuses it."""
        out = cluster.k("apply", "-k", BROKEN / "missing-secret", "--server-side", "--validate=strict",
                        "--dry-run=server", check=False)
        assert out.returncode == 0, out.stderr
        docs = dc.render(BROKEN / "missing-secret", kubectl)
        assert dc.secret_errors(docs, dc.secrets_script_list("local"))


class TestCloudOverlay(OverlayOnControlPlane):
    profile = "cloud"
    secrets_env = CLOUD_ENV
    probe_secret = "redpanda-credentials"
    refusals = [
        ([], {k: "" for k in CLOUD_ENV}, "needs these environment variables"),
        ([], {"TODO_PG_URL": CLOUD_ENV["TODO_PG_URL"].replace("require", "disable")}, "must ask for TLS"),
        ([], {"TODO_PG_URL": CLOUD_ENV["TODO_PG_URL"].replace("require", "verify-full")},
         "TODO_MIGRATE_PG_URL"),
    ]

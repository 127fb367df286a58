"""The seed's troubleshooting, for real in the cluster: with the stage's Kafka stopped, a new
audit pod's sidecar cannot load its pubsub Component; `kubectl logs <pod> -c daprd` shows why, and
`./dev doctor --cluster` names that pod, Kafka and the broker address that does not answer. Then
Kafka comes back, and so does the pod (the doctor is clean again)."""

from __future__ import annotations

import subprocess
import time

from conftest import pods_of
from stage import NS, ROOT, kubectl, wait_until


def doctor() -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "dev"), "doctor", "--cluster"], capture_output=True, text=True, timeout=300)


def daprd_failing(pod: str) -> bool:
    p = next((x for x in pods_of("audit") if x["metadata"]["name"] == pod), None)
    d = next((c for c in (p or {}).get("status", {}).get("containerStatuses", []) if c["name"] == "daprd"), None)
    return bool(d) and (d.get("restartCount", 0) > 0 or "terminated" in d.get("lastState", {}))


def test_doctor_points_at_kafka_when_a_sidecar_cannot_reach_it(stage):
    before = doctor()
    assert before.returncode == 0, f"the doctor finds problems before the fault:\n{before.stdout}\n{before.stderr}"
    old = {p["metadata"]["name"] for p in pods_of("audit")}
    stage.stop_one("kafka")
    try:
        kubectl("-n", NS, "delete", "pod", sorted(old)[0], "--wait=false")
        new = wait_until("a new audit pod", lambda: [p["metadata"]["name"] for p in pods_of("audit")
                                                    if p["metadata"]["name"] not in old], timeout=60)[0]
        wait_until(f"the daprd of {new} fails without Kafka", lambda: daprd_failing(new), timeout=240, interval=2)
        # The log of the daprd that failed (--previous) or of the one now starting; the kubelet may
        # have removed a failed container's log file already (it then answers "failed to try
        # resolving symlinks ... no such file"), so both are read until one names the component.
        seen = {"logs": ""}

        def daprd_log_names_pubsub() -> bool:
            for extra in (["--previous"], []):
                text = kubectl("-n", NS, "logs", new, "-c", "daprd", *extra, check=False)
                if text.strip():
                    seen["logs"] = text
                if "pubsub" in text:
                    return True
            return False

        try:
            wait_until(f"the daprd log of {new} to name the pubsub component", daprd_log_names_pubsub, timeout=60, interval=2)
        except Exception as e:
            raise AssertionError(f"the sidecar's log does not name the pubsub component:\n{seen['logs'][-3000:]}") from e
        d = doctor()
        print(f"\n./dev doctor --cluster with Kafka stopped (exit {d.returncode}):\n{d.stdout}")
        assert d.returncode == 1, d.stdout + d.stderr
        line = next((l for l in d.stdout.splitlines() if new in l and "FAIL" in l), "")
        assert "cannot reach Kafka" in line, f"the doctor does not point at Kafka for {new}:\n{d.stdout}"
        assert "does NOT answer" in line, line
    finally:
        stage.start_kafka()
    # Back: the crash-looping pod is replaced (its back-off could be minutes) and becomes ready.
    kubectl("-n", NS, "delete", "pod", new, "--wait=false", check=False)
    wait_until("audit ready again", lambda: pods_of("audit") and all(
        p["status"].get("phase") == "Running" and all(c["ready"] for c in p["status"].get("containerStatuses", []))
        for p in pods_of("audit") if not p["metadata"].get("deletionTimestamp")), timeout=240, interval=2)
    time.sleep(2)
    after = doctor()
    assert after.returncode == 0, f"the doctor still finds problems after Kafka is back:\n{after.stdout}"

"""The stack on services it did not start (issue 23): a Kafka at TODO_KAFKA_BROKERS, a PostgreSQL
at TODO_DATABASE_URL and the daprd and scheduler of TODO_DAPR_BIN, all started by run.sh on other
ports and folders. The smoke tests have run through them before these; these check where the
effects landed, that nothing embedded was started, and (after `./dev down` and `./dev clean`) that
the external services still run with their data."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

import stackinfo

ROOT = Path(__file__).resolve().parents[2]
TOPICS = [line.split()[:2] for line in (ROOT / "tools/kafka/topics.txt").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
LATEST = max(int(re.match(r"V(\d+)__", p.name).group(1)) for p in (ROOT / "migrations").glob("V*__*.sql"))


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def dev(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=120)


def topic_messages(bootstrap: str, topic: str) -> int:
    """Records in `topic` (high minus low watermark, every partition)."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "external-stage-check", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        c.close()


def test_topics_were_created_on_the_external_broker(external):
    topics = AdminClient({"bootstrap.servers": external["TODO_KAFKA_BROKERS"]}).list_topics(timeout=10).topics
    for name, partitions in TOPICS:
        assert name in topics, f"{name} was not created on {external['TODO_KAFKA_BROKERS']}"
        assert len(topics[name].partitions) == int(partitions), f"{name}: {len(topics[name].partitions)} partitions"
    # The smoke tests' writes went through it.
    assert topic_messages(external["TODO_KAFKA_BROKERS"], "task-events") > 0


def test_schema_and_effects_are_in_the_external_database(external):
    with psycopg.connect(external["TODO_DATABASE_URL"], autocommit=True) as db:
        version = db.execute("SELECT max(version) FROM refinery_schema_history").fetchone()[0]
        assert version == LATEST, f"migrations at V{version}, the repository has V{LATEST}"
        published = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()[0]
        audited = db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    assert published > 0 and audited > 0, f"published {published}, audited {audited}: the smoke tests' effects are missing"
    # The tests and tools read the same URL the stack was given.
    assert stackinfo.database_url() == external["TODO_DATABASE_URL"]


def test_nothing_embedded_was_started(external):
    assert not listening(9092), "something listens on 9092: the embedded Kafka was started"
    assert not listening(5432), "something listens on 5432: the embedded PostgreSQL was started"
    for part in ("kafka", "postgres"):
        assert not (stackinfo.RUN / "pids" / f"{part}.pid").exists(), f"./dev recorded a {part} of its own"
    out = dev("status").stdout
    assert re.search(r"^postgres\s+external\s", out, re.M), out
    assert re.search(rf"^kafka\s+external\s+{re.escape(external['TODO_KAFKA_BROKERS'])}", out, re.M), out
    env = stackinfo.stack_env()
    assert env["KAFKA_BOOTSTRAP"] == external["TODO_KAFKA_BROKERS"]


def test_the_sidecars_and_scheduler_run_the_given_dapr(external):
    given = os.path.realpath(external["TODO_DAPR_BIN"])
    pids = {p.stem: int(p.read_text()) for p in (stackinfo.RUN / "pids").glob("*.pid")}
    sidecars = [name for name in pids if name.startswith("daprd-")]
    assert sidecars, "no sidecar is running"
    for name in sidecars + ["scheduler"]:
        argv0 = Path(f"/proc/{pids[name]}/cmdline").read_bytes().split(b"\0")[0].decode()
        assert argv0.startswith(external["TODO_DAPR_BIN"]) or os.path.dirname(argv0) == given, \
            f"{name} runs {argv0}, not the Dapr of TODO_DAPR_BIN={external['TODO_DAPR_BIN']}"


def test_external_parts_are_not_ours_to_stop(external):
    for part in ("kafka", "postgres"):
        r = dev("stop", part)
        assert r.returncode != 0 and "external" in r.stderr, f"./dev stop {part}: {r.returncode} {r.stderr}"
    assert listening(int(external["TODO_KAFKA_BROKERS"].rsplit(":", 1)[1]))


def test_doctor_passes_on_the_external_services(external):
    r = dev("doctor")
    assert r.returncode == 0, f"./dev doctor failed on the stack with external services:\n{r.stdout}\n{r.stderr}"


@pytest.mark.after_down
def test_down_and_clean_leave_the_external_services_running_with_their_data(external):
    for key in ("TODO_EXTERNAL_TEST_KAFKA_PID", "TODO_EXTERNAL_TEST_PG_PID"):
        pid = int(external[key])
        assert Path(f"/proc/{pid}").exists(), f"./dev down or clean stopped the external service ({key}={pid})"
    topics = AdminClient({"bootstrap.servers": external["TODO_KAFKA_BROKERS"]}).list_topics(timeout=10).topics
    assert all(name in topics for name, _ in TOPICS), "./dev clean deleted topics of the external broker"
    assert topic_messages(external["TODO_KAFKA_BROKERS"], "task-events") > 0
    with psycopg.connect(external["TODO_DATABASE_URL"], autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] > 0, "./dev clean emptied the external database"
    assert Path(external["TODO_EXTERNAL_TEST_PGDIR"], "data", "PG_VERSION").exists()

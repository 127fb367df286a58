"""What the replica tests read of the running stack: each replica's ports, each consumer group's
members and their partitions (Kafka's own answer), and the redeliveries audit and realtime log."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import requests

from support import RUN, read_env, sidecar_ports

# The consumers, the topic each reads and its route on the app.
CONSUMERS = {
    "audit": ("task-events", "/audit/events"),
    "recurring": ("task-events", "/recurring/events"),
    "notification": ("reminders", "/notification/events"),
    "realtime": ("task-updates", "/realtime/events"),
}


def stack_env() -> dict[str, str]:
    return read_env(RUN / "stack.env")


def step() -> int:
    """Replica R listens on replica 1's ports + step() * (R - 1) (`replicas.env`, by ./dev up)."""
    return int(read_env(RUN / "replicas.env")["REPLICA_STEP"])


def app_url(replica: int) -> str:
    """Replica `replica`'s app process (1: HOST_URL)."""
    base = stack_env()["HOST_URL"]
    port = int(base.rsplit(":", 1)[1]) + step() * (replica - 1)
    return f"http://127.0.0.1:{port}"


def sidecar_metrics_port(app_id: str, replica: int) -> int:
    return sidecar_ports(app_id)[2] + step() * (replica - 1)


def alive(part: str) -> bool:
    try:
        os.kill(int((RUN / "pids" / f"{part}.pid").read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def running_replicas(app_id: str) -> list[int]:
    return [r for r in (1, 2, 3) if alive(f"daprd-{app_id}" if r == 1 else f"daprd-{app_id}@{r}")]


def describe(bootstrap: str, app_id: str) -> tuple[str, dict[str, list[tuple[str, int]]]]:
    """The consumer group `app_id` as Kafka describes it: its state (STABLE, PREPARING_REBALANCING,
    ...) and member id -> its partitions."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    d = admin.describe_consumer_groups([app_id], request_timeout=10)[app_id].result()
    members = {m.member_id: sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions)
               for m in d.members}
    return d.state.name, members


def group(bootstrap: str, app_id: str) -> dict[str, list[tuple[str, int]]]:
    """member id -> its partitions, of the consumer group `app_id`."""
    return describe(bootstrap, app_id)[1]


def owners(bootstrap: str, app_id: str) -> dict[tuple[str, int], str]:
    """partition -> the member id that owns it."""
    return {tp: member for member, tps in group(bootstrap, app_id).items() for tp in tps}


def stable_owners(bootstrap: str, app_id: str, want_members: int, timeout: float = 30.0) -> dict:
    """The owners once the group is STABLE with `want_members` members and the answer has not
    changed for a second; the last answer at the timeout."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        try:
            state, g = describe(bootstrap, app_id)
            now = {tp: m for m, tps in g.items() for tp in tps}
        except Exception:  # the coordinator is moving: ask again
            state, g, now = "", {}, None
        if now != last:
            last, since = now, time.monotonic()
        elif now and state == "STABLE" and len(g) == want_members and time.monotonic() - since >= 1.0:
            return now
        if time.monotonic() > deadline:
            return last or {}
        time.sleep(0.25)


# What audit and realtime log when a delivery held events they had applied already (their
# statements tell them): a rebalance's or a restart's redeliveries, absorbed by the inbox. (Dapr
# 1.18.3's `dapr_component_pubsub_ingress_bulk_event_count` cannot count them: its view
# aggregates with Count, so it counts one per status per bulk delivery, not entries.)
REDELIVERY_LOGS = {"audit": re.compile(r"^audit: (\d+) of \d+ events were recorded already"),
                   "realtime": re.compile(r"^realtime: (\d+) of \d+ updates were in the feed already")}


def component_logs() -> list[Path]:
    """Every replica's stderr files of audit and realtime (Spin's --log-dir: logs/spin, spin@2...)."""
    return [d / f"{c}_stderr.txt" for d in [RUN / "logs" / "spin", RUN / "logs" / "spin@2", RUN / "logs" / "spin@3"]
            for c in REDELIVERY_LOGS]


def log_sizes() -> dict[Path, int]:
    return {p: (p.stat().st_size if p.exists() else 0) for p in component_logs()}


def redeliveries_since(sizes: dict[Path, int]) -> dict[str, int]:
    """Events audit and realtime found applied already, logged since `sizes`, per consumer."""
    out = {c: 0 for c in REDELIVERY_LOGS}
    for p in component_logs():
        if not p.exists():
            continue
        consumer = p.name.removesuffix("_stderr.txt")
        with p.open("rb") as f:
            f.seek(min(sizes.get(p, 0), p.stat().st_size))
            for line in f:
                m = REDELIVERY_LOGS[consumer].match(line.decode(errors="replace"))
                if m:
                    out[consumer] += int(m.group(1))
    return out

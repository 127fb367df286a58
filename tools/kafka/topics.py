"""Creates the stack's topics (tools/kafka/topics.txt) on a Kafka-API broker the stack did not start
(`TODO_KAFKA_BROKERS`, e.g. Redpanda on localhost:9092), as `kafka.sh create-topics` does on the
embedded one, without Java: the librdkafka admin client of the test venv (confluent-kafka).

    python tools/kafka/topics.py BOOTSTRAP [--timeout S]

Idempotent: a topic that exists is kept as it is (its partition count is reported when it has
fewer than topics.txt asks for: Dapr's consumers still work, with less parallelism). A topic the
broker refuses to create (ACLs, `auto.create` policy, a managed service's quota) is an error naming
the topic, the broker's reason, and the command that creates it by hand. The replication factor is
the broker's default (-1), so a three-broker cluster gets its own default and a single Redpanda 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TOPICS_TXT = Path(__file__).resolve().parent / "topics.txt"


def wanted() -> list[tuple[str, int]]:
    """(name, partitions) of every line of topics.txt."""
    out = []
    for line in TOPICS_TXT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, partitions = line.split()[:2]
            out.append((name, int(partitions)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bootstrap", help="host:port[,host:port...] of the broker")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")
    args = ap.parse_args()
    try:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic
    except ImportError:
        print("topics: confluent-kafka is missing: run tools/devstack/setup.sh (it installs the venv)", file=sys.stderr)
        return 1

    admin = AdminClient({"bootstrap.servers": args.bootstrap, "socket.timeout.ms": int(args.timeout * 1000)})
    try:
        existing = admin.list_topics(timeout=args.timeout).topics
    except KafkaException as e:
        print(f"topics: the broker at {args.bootstrap} does not answer ({e.args[0].str()}): "
              "is it running, and is TODO_KAFKA_BROKERS its advertised address?", file=sys.stderr)
        return 1

    missing = [(n, p) for n, p in wanted() if n not in existing]
    failed = 0
    if missing:
        futures = admin.create_topics([NewTopic(n, num_partitions=p, replication_factor=-1) for n, p in missing],
                                      request_timeout=args.timeout)
        for (name, partitions), fut in zip(missing, futures.values()):
            try:
                fut.result()
                print(f"topics: created {name} ({partitions} partitions) on {args.bootstrap}")
            except KafkaException as e:
                err = e.args[0]
                if err.name() == "TOPIC_ALREADY_EXISTS":
                    continue
                failed += 1
                print(f"topics: ERROR: the broker at {args.bootstrap} refused to create {name}: {err.str()} "
                      f"({err.name()}). Create it yourself with {partitions} partition(s), e.g. "
                      f"`rpk topic create {name} -p {partitions}` or `kafka-topics.sh --create --topic {name} "
                      f"--partitions {partitions}`, then run ./dev up again.", file=sys.stderr)
    for name, partitions in wanted():
        have = existing.get(name)
        if have is not None and len(have.partitions) < partitions:
            print(f"topics: note: {name} exists with {len(have.partitions)} partition(s), topics.txt asks for "
                  f"{partitions}: kept as it is", file=sys.stderr)
    if not missing:
        print(f"topics: all {len(wanted())} topics exist on {args.bootstrap}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The dev stack's mail sink (tools/mailsink): the email reminders it received."""

from __future__ import annotations

import json
import time

from support import RUN

INDEX = RUN / "mail" / "index.jsonl"


def messages() -> list[dict]:
    """Every message received so far: {n, received_at, from, to, subject, body}."""
    if not INDEX.exists():
        return []
    return [json.loads(line) for line in INDEX.read_text().splitlines() if line.strip()]


def to(address: str) -> list[dict]:
    return [m for m in messages() if address in m["to"]]


def wait_for(address: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
    """Waits until `address` has received at least `count` messages; answers them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = to(address)
        if len(got) >= count:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{address} received {len(to(address))} message(s), expected {count}, within {timeout:.0f}s")

#!/usr/bin/env python3
"""Reproduction of a Dapr 1.18 bug, ready to report: concurrent sends through one sidecar's
`bindings.smtp` can swap recipients (docs/decisions.md, "One call into notification at a time").

The binding's `mergeWithRequestMetadata` has a pointer receiver and starts with
`merged := metadata`, so each request's `emailTo` and `subject` are written into the component's
own metadata (components-contrib v1.18.4 `bindings/smtp/smtp.go` 179-200) and a concurrent send
can read another's. This sends N emails at once (T threads) straight to a sidecar's binding API,
each with its own `emailTo` and that same address as its subject, then lists every message the
dev stack's mail sink received whose To is not its own subject.

    ./dev up && ~/.cache/todo-events/venv/bin/python tools/dapr/smtp_race.py [--n 600] [--threads 100]

2026-12-08, dev stack, notification's sidecar: five runs of 600 sends at 100 threads: 0, 2, 3, 1
and 2 messages whose To and subject came from different sends. Exit status 1 when any did.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devstack"))
import stackinfo  # noqa: E402  (the stack's ports, secrets and run folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="emails to send")
    ap.add_argument("--threads", type=int, default=100, help="sends at once")
    ap.add_argument("--port", type=int, default=3503, help="the sidecar's HTTP port (notification's)")
    args = ap.parse_args()
    token = stackinfo.secrets()["DAPR_API_TOKEN"]
    index = stackinfo.RUN / "mail" / "index.jsonl"
    run = f"race{int(time.time())}"

    def send(i: int) -> int:
        to = f"{run}-{i}@race.test"
        body = json.dumps({"operation": "create", "data": "x", "metadata": {"emailTo": to, "subject": to}})
        req = urllib.request.Request(f"http://127.0.0.1:{args.port}/v1.0/bindings/smtp", body.encode(),
                                     {"content-type": "application/json", "dapr-api-token": token})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    with concurrent.futures.ThreadPoolExecutor(args.threads) as ex:
        statuses = set(ex.map(send, range(args.n)))
    time.sleep(3)
    msgs = [json.loads(line) for line in index.read_text().splitlines() if run in line] if index.exists() else []
    wrong = [m for m in msgs if m["subject"] not in m["to"]]
    print(f"sidecar :{args.port}: {args.n} sends at {args.threads} at once, answers {sorted(statuses)}; "
          f"{len(msgs)} received, {len(wrong)} sent to another send's recipient")
    for m in wrong[:10]:
        print(f"  to {m['to']} with subject {m['subject']}")
    if len(msgs) != args.n:
        print(f"smtp_race: the mail sink has {len(msgs)} of {args.n} messages", file=sys.stderr)
        return 2
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

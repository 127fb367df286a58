"""The dev stack's mail sink: a real SMTP server (aiosmtpd) on loopback that keeps every message.

The notification service sends email reminders through Dapr's SMTP output binding; locally they
arrive here. Each message is written to <dir>/<n>.eml and summarised as one JSON line in
<dir>/index.jsonl (time, from, to, subject, body). `./dev mail` prints the index.

A file <dir>/delay holding a number of seconds makes the sink keep each message that long before
answering 250 (read per message; the fault tests use it to hold an email in flight).

    python mailsink.py --listen 127.0.0.1:2525 --dir ~/.cache/todo-events/run/mail
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import signal
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class Keep:
    """aiosmtpd handler: store the message, answer 250."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.count += 1
        raw = envelope.original_content or envelope.content
        (self.folder / f"{self.count:06d}.eml").write_bytes(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        entry = {
            "n": self.count,
            "received_at": time.time(),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg.get("subject", "")),
            "body": body.get_content() if body else "",
        }
        with (self.folder / "index.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
        print(f"mailsink: #{self.count} to {entry['to']}: {entry['subject']}", flush=True)
        delay = self.delay()
        if delay > 0:
            print(f"mailsink: #{self.count}: answering in {delay:g}s", flush=True)
            await asyncio.sleep(delay)
        return "250 OK"

    def delay(self) -> float:
        """Seconds to hold the answer: <dir>/delay, or 0."""
        try:
            return max(0.0, float((self.folder / "delay").read_text().strip()))
        except (OSError, ValueError):
            return 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--listen", default="127.0.0.1:2525")
    p.add_argument("--dir", required=True, type=Path)
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(Keep(args.dir), hostname=host, port=int(port))
    controller.start()
    print(f"mailsink: listening on {host}:{port}, keeping mail in {args.dir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()

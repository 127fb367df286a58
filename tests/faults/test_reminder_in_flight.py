"""PostgreSQL restarts while an email reminder is in flight: the SMTP server has the message but
has not answered yet, and by the time it answers the database is down. The callback that sent the
email keeps its claim and records the delivery once PostgreSQL is back (docs/decisions.md,
"The window between delivering and recording"), so the reminder is `sent` after one attempt and
the email leaves once. Answering the Scheduler with an error instead leaves the reminder
`delivering` until its 30 s lease runs out and then sends the email a second time.

The mail sink holds its answer while `<mail dir>/delay` names a number of seconds
(tools/mailsink); the test sets it and removes it after.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import mail
from clients import Api, mint_token
from support import RUN, read_env
from test_faults import alive, dev

HOLD_S = 6.0  # how long the mail sink holds its 250: longer than stopping PostgreSQL takes
DELAY = RUN / "mail" / "delay"
LOGS = [RUN / "logs" / "app.log", RUN / "logs" / "spin" / "notification_stderr.txt"]


def at(seconds: float) -> str:
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_text() -> str:
    return "\n".join(p.read_text(errors="replace") for p in LOGS if p.exists())


def test_an_email_in_flight_when_postgres_restarts_is_recorded_once_and_sent_once():
    env = read_env(RUN / "stack.env")
    secrets = read_env(RUN / "secrets.env")
    for part in ("postgres", "mailsink", "app", "daprd-notification", "scheduler"):
        assert alive(part), f"{part} is not running (./dev status)"
    user_id = f"fault-{uuid.uuid4()}"
    api = Api(env["HOST_URL"], mint_token(secrets["JWT_SECRET"], user_id), user_id)
    address = f"{user_id}@example.test"

    DELAY.write_text(f"{HOLD_S}\n")
    try:
        t = api.create(title="Renew the passport", reminders=[{"remind_at": at(3), "channel": "email"}])
        rid = t["reminders"][0]["id"]
        api.wait_reminder(rid, "scheduled", timeout=20)
        got = mail.wait_for(address, 1, timeout=30)  # stored; its 250 is held for HOLD_S
        arrived = got[0]["received_at"]
        stop_s = dev("stop", "postgres")
        assert time.time() < arrived + HOLD_S, (
            f"stopping PostgreSQL took {stop_s:.1f}s, past the mail sink's {HOLD_S}s hold: "
            "the delivery was recorded before the fault")
        # Down until the SMTP answer has come back and the first record has failed.
        time.sleep(max(0.0, arrived + HOLD_S + 1.5 - time.time()))
    finally:
        DELAY.unlink(missing_ok=True)
        if not alive("postgres"):
            dev("start", "postgres")

    rec = api.wait_reminder(rid, "sent", timeout=15)
    assert rec["attempts"] == 1, f"recorded after {rec['attempts']} attempts: {rec}"
    retried = [l for l in log_text().splitlines() if rid in l and "recording failed" in l]
    recorded = [l for l in log_text().splitlines() if rid in l and "recorded on try" in l]
    assert retried and recorded, (
        f"the callback's record of {rid} did not fail and succeed on a later try "
        f"(failed: {retried[-3:]}, recorded: {recorded[-3:]}); the fault missed the window")
    time.sleep(4)  # longer than the Scheduler's 3 s between tries of a job: none sends again
    assert len(mail.to(address)) == 1, f"{address} received {len(mail.to(address))} emails for one reminder"

-- Notification service: the state of every reminder it was told about, kept from the `reminders`
-- events (its own included) and the Dapr Scheduler's job callbacks.
--   scheduled  -> a job is due at remind_at
--   delivering -> a callback claimed it until claimed_until (a second callback waits)
--   sent       -> delivered once on its channel
--   failed     -> every try of the job's failure policy failed (last_error says why)
--   missed     -> its time was more than the grace period past when it arrived
--   cancelled  -> removed from its task, or the task was completed or deleted
CREATE TABLE reminder_states (
    reminder_id   uuid        PRIMARY KEY,
    user_id       text        NOT NULL,
    task_id       uuid        NOT NULL,
    remind_at     timestamptz NOT NULL,
    channel       text        NOT NULL,
    -- Recipient of an email reminder (the user's JWT `email` when it was set).
    email         text,
    task_title    text,
    due_at        timestamptz,
    state         text        NOT NULL
                  CHECK (state IN ('scheduled', 'delivering', 'sent', 'failed', 'missed', 'cancelled')),
    attempts      integer     NOT NULL DEFAULT 0,
    claimed_until timestamptz,
    last_error    text,
    sent_at       timestamptz,
    -- `timestamp` of the last reminders event applied: an older one never overwrites a newer.
    event_at      timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A user's reminders by time (GET /api/reminders, keyset-paged on (remind_at, reminder_id)).
CREATE INDEX reminder_states_user_time_idx ON reminder_states (user_id, remind_at, reminder_id);

-- Idempotency records of the event consumers: one row per (consumer, event_id), written in the
-- same statement as the consumer's effect, so a redelivered event changes nothing.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Audit log: every task event once (by event_id), queryable per user and per task.
CREATE TABLE audit_log (
    -- Recording order: newest first and keyset paging use it; one task's events are recorded in
    -- the order they were written (per-task Kafka ordering), so seq orders them per task.
    seq            bigserial   PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    user_id        text        NOT NULL,
    task_id        uuid        NOT NULL,
    event_type     text        NOT NULL,
    -- The event's own `timestamp`.
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    schema_version text        NOT NULL,
    -- The event as received (unknown fields of newer MINOR versions included).
    payload        jsonb       NOT NULL
);

-- Newest first per user, and per user and task, keyset-paged on seq; time range on occurred_at.
CREATE INDEX audit_user_seq_idx ON audit_log (user_id, seq);
CREATE INDEX audit_user_task_seq_idx ON audit_log (user_id, task_id, seq);
CREATE INDEX audit_user_time_idx ON audit_log (user_id, occurred_at);

-- Dead letters: every event a consumer gave up on, why, and what became of it (docs/deadletters.md).
--
-- The consumer that refuses an event (not JSON, invalid, unknown MAJOR, refused by the consumer)
-- or fails on it every time writes this row in its own statement before it answers DROP, so
-- Dapr's copy in `<topic>.dlq` and this row meet by (topic, consumer, key). An event the consumer
-- cannot process now because a dependency is down is never written here: it is retried until
-- the dependency is back (docs/decisions.md, "Outages of any length").
--
-- state:
--   retrying  the consumer failed on it with the database reachable; `attempts` counts the
--             failures, and at the cap (todo_consumer::deadletter::MAX_ATTEMPTS) it is dead
--   dead      refused, in `<topic>.dlq`, waiting for an operator (pending)
--   redriven  an operator re-published it through the outbox (`redrives` times); a consumer
--             that fails on it again makes it dead again
CREATE TABLE dead_letters (
    id              bigserial   PRIMARY KEY,
    topic           text        NOT NULL,
    -- The consumer's app-id.
    consumer        text        NOT NULL,
    -- The event id when the payload has a readable one, else 'ce:<id>' of its CloudEvent, else
    -- 'sha256:<hex>' of the payload. consumer '' is a message a sidecar dead-lettered before any
    -- consumer read it (not a CloudEvent), recorded by the dead-letters service.
    key             text        NOT NULL,
    event_id        uuid,
    event_type      text,
    schema_version  text,
    task_id         uuid,
    user_id         text,
    -- Why, for a person: the validation error naming the field, "unknown MAJOR 2", "retries
    -- exhausted: <last error>".
    reason          text        NOT NULL,
    -- Why, as a metric label: not_json, bad_envelope, bad_version, invalid, refused, exhausted,
    -- undeliverable.
    reason_class    text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('retrying', 'dead', 'redriven')),
    attempts        integer     NOT NULL DEFAULT 1,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    -- When it became dead last (the pending alert's clock).
    dead_since      timestamptz,
    kafka_partition integer,
    kafka_offset    bigint,
    -- The delivery as the consumer received it: the CloudEvent, a bare event, or any bytes.
    payload         bytea       NOT NULL,
    -- The event object in it (a CloudEvent's data), when there is one: what a re-drive publishes.
    event           jsonb,
    -- When the dead-letters service saw its copy in `<topic>.dlq` (last time).
    dlq_seen_at     timestamptz,
    redrives        integer     NOT NULL DEFAULT 0,
    last_redrive_at timestamptz,
    UNIQUE (topic, consumer, key)
);

-- The operator's list: newest first, by state.
CREATE INDEX dead_letters_state_idx ON dead_letters (state, id);

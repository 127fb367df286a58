-- Transactional outbox: a task write inserts its events here in the same statement; the task API
-- drains it (claim, publish through the sidecar, mark published) after each write and on a timer.

CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    task_id       uuid        NOT NULL,
    topic         text        NOT NULL,
    -- Kafka partition key (the task id): one task's events on one topic stay in order.
    partition_key text        NOT NULL,
    payload       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A drainer that claimed the row publishes it until then; afterwards another may take over.
    claimed_until timestamptz,
    published_at  timestamptz
);

-- Unpublished rows, oldest first (the drain).
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
-- "Is there an older unpublished row with the same topic and key?" (per-key ordering).
CREATE INDEX outbox_unpublished_key_idx ON outbox (topic, partition_key, id) WHERE published_at IS NULL;
-- Purging published rows.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

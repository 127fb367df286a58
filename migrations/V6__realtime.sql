-- Realtime service: each user's feed of task updates, in order (a per-user sequence), kept 24 h.
-- Browsers resume from the last sequence they saw (SSE Last-Event-ID, the WebSocket's last_id);
-- Pushpin recovers gaps from it (Grip-Last). One row per update (event_id), written in the same
-- statement as the consumer's idempotency record.
CREATE TABLE realtime_users (
    user_id  text   PRIMARY KEY,
    -- The sequence of the user's newest update (1 for the first).
    last_seq bigint NOT NULL CHECK (last_seq >= 1)
);

CREATE TABLE realtime_feed (
    user_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    event_id   uuid        NOT NULL UNIQUE,
    -- The task-updates event as received.
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);

-- The retention delete (per user, oldest first).
CREATE INDEX realtime_feed_user_time_idx ON realtime_feed (user_id, created_at);

-- Each consumer's lag (event_consumer_lag_seconds, event_consumer_pending_events) at a cost that
-- does not grow with the rate or the history (docs/observability.md, "What a scrape costs").
--
-- Until V8 every scrape probed `processed_events` for every event published in the last 5
-- minutes, with the planner free to hash the consumer's whole idempotency history instead, and
-- the statement's estimated cost made PostgreSQL JIT-compile it: at 100 writes/s a scrape took
-- 1.1 s, 94 % of it compiling, every 5 s, half of the database's time.

-- Where a consumer's next lag scan starts on its topic: every event published before
-- `done_before` (and inside the window) has been recorded by the consumer, or was pending at the
-- last scan and is scanned again from here. It only moves forward.
CREATE TABLE metric_lag_checkpoint (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    done_before timestamptz NOT NULL,
    PRIMARY KEY (consumer, topic)
);

-- The lag of `consumer` on `topic`: how many events published in the last `window_seconds`
-- (and since the consumer first recorded one, `metric_consumed.first_at`) it has not recorded,
-- and when the oldest of them was published. Scans only what was published since the checkpoint,
-- probing `processed_events` by its key per event (the lateral subquery cannot be flattened into
-- a hash of the history), then moves the checkpoint to the oldest pending event, or to 15 s ago
-- if that is earlier: `published_at` is the marking statement's start, and a statement that has
-- not committed yet (the binding cancels any after 10 s) may still add rows older than now.
-- `SET jit = off`: the statement is a few index probes, and compiling it cost more than running
-- it (the planner's estimate grows with the outbox, not with what the checkpoint leaves).
CREATE FUNCTION metric_consumer_lag(consumer text, topic text, window_seconds integer,
                                    OUT pending bigint, OUT oldest timestamptz)
    LANGUAGE sql VOLATILE
    SET jit = off
AS $$
    WITH scan AS (
        SELECT count(*) FILTER (WHERE d.hit IS NULL) AS pending,
               min(o.published_at) FILTER (WHERE d.hit IS NULL) AS oldest
        FROM outbox o
        LEFT JOIN LATERAL (
            SELECT 1 AS hit FROM processed_events p
            WHERE p.consumer = $1 AND p.event_id = (o.payload->>'event_id')::uuid
            OFFSET 0
        ) d ON true
        WHERE o.topic = $2 AND o.published_at IS NOT NULL
          AND o.published_at > greatest(now() - make_interval(secs => $3),
                                        (SELECT min(m.first_at) FROM metric_consumed m
                                         WHERE m.consumer = $1))
          AND o.published_at >= COALESCE((SELECT k.done_before FROM metric_lag_checkpoint k
                                          WHERE k.consumer = $1 AND k.topic = $2),
                                         '-infinity')
    ), saved AS (
        INSERT INTO metric_lag_checkpoint AS k (consumer, topic, done_before)
        SELECT $1, $2, least(COALESCE(s.oldest, 'infinity'), now() - interval '15 seconds')
        FROM scan s
        ON CONFLICT ON CONSTRAINT metric_lag_checkpoint_pkey
            DO UPDATE SET done_before = greatest(k.done_before, EXCLUDED.done_before)
    )
    SELECT s.pending, s.oldest FROM scan s
$$;

-- A consumer's lag (metric_consumer_lag, V8) leaves out the events it dead-lettered (a
-- `dead_letters` row of its own in state dead or discarded): they are not waiting for it any more
-- but for an operator, and `dead_letters_pending` counts them (docs/deadletters.md). Until this, a
-- re-driven poison (published again through the outbox and refused again) kept the consumer's lag
-- above 30 s for the five minutes of the window, and EventProcessingLagHigh went pending (seen in
-- tests/observability after the dead-letter tests). A letter still `retrying` or `redriven` is lag.
-- The probe goes through the dead letters' (topic, consumer, key) unique index.
CREATE OR REPLACE FUNCTION metric_consumer_lag(consumer text, topic text, window_seconds integer,
                                               OUT pending bigint, OUT oldest timestamptz)
    LANGUAGE sql VOLATILE
    SET jit = off
AS $$
    WITH scan AS (
        SELECT count(*) FILTER (WHERE d.hit IS NULL) AS pending,
               min(o.published_at) FILTER (WHERE d.hit IS NULL) AS oldest
        FROM outbox o
        LEFT JOIN LATERAL (
            (SELECT 1 AS hit FROM processed_events p
             WHERE p.consumer = $1 AND p.event_id = (o.payload->>'event_id')::uuid)
            UNION ALL
            (SELECT 1 AS hit FROM dead_letters l
             WHERE l.topic = $2 AND l.consumer = $1 AND l.key = o.payload->>'event_id'
               AND l.state IN ('dead', 'discarded'))
            LIMIT 1
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

-- The event metrics (docs/observability.md): counters kept in the database, so that they survive
-- one-request component instances and add up across replicas. Each is written in the same
-- statement as the effect it counts: a consumer's `processed_events` insert, the outbox relay's
-- "published" mark. The metrics component reads them (crates/metrics, `GET /metrics`).

-- What a consumer records with each event it consumed (NULL in rows written before V7).
ALTER TABLE processed_events
    ADD COLUMN topic          text,
    ADD COLUMN event_type     text,
    ADD COLUMN schema_version text,
    -- The event's own `timestamp`.
    ADD COLUMN event_at       timestamptz,
    -- When the component received the delivery (its clock at request start).
    ADD COLUMN received_at    timestamptz;

-- Upper bounds (seconds) of the processing-duration histogram's buckets; +Inf is implied.
CREATE FUNCTION metric_duration_buckets() RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ARRAY[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]::double precision[] $$;

-- The bucket of a duration: the smallest bound it does not exceed ('Infinity' above the last).
CREATE FUNCTION metric_duration_bucket(seconds double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(min(b), 'Infinity'::double precision)
          FROM unnest(metric_duration_buckets()) AS b WHERE seconds <= b $$;

-- 'MAJOR.MINOR' of a schema_version ('unknown' if it is none).
CREATE FUNCTION metric_schema_minor(version text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(substring(version FROM '^([0-9]+\.[0-9]+)\.'), 'unknown') $$;

-- Consumption: events per (consumer, topic, event type, schema MAJOR.MINOR, duration bucket),
-- and the sum of their durations. The metrics component derives events_consumed_total, the
-- event_processing_duration_seconds histogram (cumulative buckets, _sum, _count) and
-- schema_version_mismatches_total (MAJOR.MINOR other than the topic's known one) from it.
-- `shard` spreads concurrent writers over rows (the backend's pid modulo 8): a counter row is
-- locked from the counting statement to its commit, and one row per label set would make
-- concurrent consumers of the same event type wait for each other's commits.
-- `first_at` (set once): the consumer's earliest row is when it first recorded an event with these
-- columns, i.e. since when it records every event it consumes (before V7 the recurring service
-- recorded only the completions it rolled forward); its lag looks at events published after that.
CREATE TABLE metric_consumed (
    consumer     text             NOT NULL,
    topic        text             NOT NULL,
    event_type   text             NOT NULL,
    schema_minor text             NOT NULL,
    le           double precision NOT NULL,
    shard        smallint         NOT NULL,
    events       bigint           NOT NULL,
    seconds      double precision NOT NULL,
    first_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, event_type, schema_minor, le, shard)
);

-- Publishing: outbox rows marked published, per (topic, event type).
CREATE TABLE metric_published (
    topic      text     NOT NULL,
    event_type text     NOT NULL,
    shard      smallint NOT NULL,
    events     bigint   NOT NULL,
    PRIMARY KEY (topic, event_type, shard)
);

-- The counters of the rare paths that write nothing else (a drop, a retry, a failed publish):
-- event_processing_errors_total, schema_validation_errors_total, event_publish_errors_total.
CREATE TABLE metric_counters (
    name   text             NOT NULL,
    labels jsonb            NOT NULL CHECK (jsonb_typeof(labels) = 'object'),
    value  double precision NOT NULL,
    PRIMARY KEY (name, labels)
);

-- One statement-level trigger per table: the rows a statement inserted (a redelivery's
-- ON CONFLICT DO NOTHING inserts none), grouped and upserted in key order, so two statements
-- never lock the same counters in different orders. Duration: from the delivery's arrival at the
-- component to now (the end of the statement that records the effect), never negative (clocks).
CREATE FUNCTION metric_count_consumed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO metric_consumed AS m (consumer, topic, event_type, schema_minor, le, shard, events, seconds)
    SELECT d.consumer, d.topic, d.event_type, metric_schema_minor(d.schema_version),
           metric_duration_bucket(d.seconds), (pg_backend_pid() % 8)::smallint,
           count(*), sum(d.seconds)
    FROM (SELECT n.consumer, n.topic, n.event_type, n.schema_version,
                 greatest(extract(epoch FROM clock_timestamp() - n.received_at)::double precision, 0)
                     AS seconds
          FROM new_events n
          WHERE n.received_at IS NOT NULL AND n.topic IS NOT NULL AND n.event_type IS NOT NULL) d
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (consumer, topic, event_type, schema_minor, le, shard)
    DO UPDATE SET events = m.events + EXCLUDED.events, seconds = m.seconds + EXCLUDED.seconds;
    RETURN NULL;
END
$$;

CREATE TRIGGER processed_events_metrics
    AFTER INSERT ON processed_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION metric_count_consumed();

-- A trigger with transition tables cannot name columns (UPDATE OF published_at), so it sees
-- every UPDATE of the outbox (claims, releases) and counts the rows it moved from unpublished to
-- published.
CREATE FUNCTION metric_count_published() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO metric_published AS m (topic, event_type, shard, events)
    SELECT n.topic, COALESCE(n.payload->>'event_type', 'unknown'), (pg_backend_pid() % 8)::smallint,
           count(*)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.published_at IS NULL AND n.published_at IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (topic, event_type, shard) DO UPDATE SET events = m.events + EXCLUDED.events;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_published_metrics
    AFTER UPDATE ON outbox
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metric_count_published();

-- Consumer lag: a topic's events published in the last hour, oldest first; each is looked up in
-- processed_events by its primary key (consumer, event_id).
CREATE INDEX outbox_topic_published_idx ON outbox (topic, published_at) WHERE published_at IS NOT NULL;

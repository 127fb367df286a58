-- Tasks of the task API (one row per task; every query filters on user_id).
-- Timestamps are timestamptz (instants); `timezone` is the IANA zone the due date was set in.

-- Substring search (`q`) over title and description uses a trigram index.
-- pg_trgm is a trusted extension: the database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tasks (
    id             uuid        PRIMARY KEY,
    user_id        text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    title          text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description    text                 CHECK (length(description) <= 4000),
    completed      boolean     NOT NULL DEFAULT false,
    completed_at   timestamptz,
    -- 0 low, 1 normal, 2 high, 3 urgent: sorts by urgency.
    priority       smallint    NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
    tags           text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    due_at         timestamptz,
    timezone       text        NOT NULL DEFAULT 'UTC',
    -- RFC 5545 RRULE value in canonical form, without the `RRULE:` prefix.
    recurrence     text,
    -- Series id shared by all occurrences of a recurring task.
    recurrence_id  uuid,
    -- The occurrence this task was rolled forward from.
    parent_task_id uuid,
    reminders      jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(reminders) = 'array'),
    -- Optimistic concurrency: every update is `WHERE version = <read version>` and increments it.
    version        integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK (completed = (completed_at IS NOT NULL)),
    CHECK (recurrence IS NULL OR due_at IS NOT NULL)
);

-- Keyset pagination: (user_id, sort key, id) for each sort; the same expressions as the list query.
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_due_idx      ON tasks (user_id, (COALESCE(due_at, 'infinity'::timestamptz)), id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, (lower(title)), id);
-- Tag filter (`tags @> ARRAY[...]`).
CREATE INDEX tasks_tags_idx ON tasks USING gin (tags);
-- Text search (`q`): ILIKE over title and description.
CREATE INDEX tasks_text_trgm_idx ON tasks
    USING gin ((title || ' ' || COALESCE(description, '')) gin_trgm_ops);
-- The recurring service looks occurrences up by series.
CREATE INDEX tasks_recurrence_idx ON tasks (recurrence_id) WHERE recurrence_id IS NOT NULL;

-- Recurring service: one roll-forward per completed occurrence of a series, whatever is
-- redelivered, reopened and completed again, or raced. The key is the series and the due instant
-- of the occurrence that was completed; the row is written in the same statement as the next
-- occurrence (its task row and outbox events), or alone when the series has ended.
CREATE TABLE recurrence_rolls (
    recurrence_id  uuid        NOT NULL,
    -- Due instant of the completed occurrence this roll follows.
    from_due_at    timestamptz NOT NULL,
    -- The completed task, and the next occurrence created (NULL when the series is exhausted).
    from_task_id   uuid        NOT NULL,
    next_task_id   uuid,
    next_due_at    timestamptz,
    outcome        text        NOT NULL CHECK (outcome IN ('created', 'exhausted')),
    -- The task.completed event that rolled it.
    event_id       uuid        NOT NULL,
    rolled_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recurrence_id, from_due_at),
    CHECK ((outcome = 'created') = (next_task_id IS NOT NULL))
);

-- An operator may discard a dead letter that should never be re-driven (garbage bytes, an event
-- of a test, one applied by hand): it stops being pending (the doctor, dead_letters_pending and
-- its alert) and is kept, with who discarded it and when (docs/deadletters.md).
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_state_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_state_check
    CHECK (state IN ('retrying', 'dead', 'redriven', 'discarded'));
ALTER TABLE dead_letters ADD COLUMN discarded_by text;
ALTER TABLE dead_letters ADD COLUMN discarded_at timestamptz;

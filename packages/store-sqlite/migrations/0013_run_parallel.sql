-- Runs in a parallel phase (a call answered more than one op, its branches not all settled):
-- served calls send disable_immediate_execution (inngest-protocol §8.4).
ALTER TABLE runs ADD COLUMN parallel INTEGER;

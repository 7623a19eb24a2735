-- Runs that went parallel (a call reported more than one op): later served calls send
-- disable_immediate_execution (inngest-protocol §8.4).
ALTER TABLE runs ADD COLUMN parallel INTEGER;

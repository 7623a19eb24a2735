-- Tracing: the run's trace context (a W3C traceparent naming the run's span, and the
-- span id of the sender's span it was started inside), so that every call of the run, on
-- any node, joins one trace. NULL when tracing was off as the run was created.
ALTER TABLE runs ADD COLUMN trace_context TEXT;

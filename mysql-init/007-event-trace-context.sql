-- The trace context of the request that made each change, kept with its history row, so that the
-- event the relay publishes later (after a restart, or from another consumer) goes out in that
-- request's trace. W3C Trace Context as JSON, {"traceparent": "...", "tracestate": "..."}; NULL
-- when tracing was off, as for every row written before this file. Idempotent, as every file
-- here: on MySQL 8.4 too, where ADD COLUMN has no IF NOT EXISTS.

SET @add_trace_context = (
  SELECT IF(
    COUNT(*) = 0,
    'ALTER TABLE event_history
       ADD COLUMN trace_context VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_bin NULL
         AFTER request_id',
    'DO 0'
  )
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND table_name = 'event_history'
    AND column_name = 'trace_context'
);
PREPARE add_trace_context FROM @add_trace_context;
EXECUTE add_trace_context;
DEALLOCATE PREPARE add_trace_context;

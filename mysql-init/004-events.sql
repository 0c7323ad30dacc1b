-- Events out: the history is the outbox. Every applied change already appends one event_history
-- row in its own transaction; that row now holds what its CloudEvent needs besides the
-- subscription's fixed fields (the version the change left, the request id), and the relay
-- publishes rows in id order from its position in event_relay. No second copy of an event is
-- written. Idempotent, as every file here: on MySQL 8.4 too, where ADD COLUMN has no IF NOT EXISTS.

SET @add_event_columns = (
  SELECT IF(
    COUNT(*) = 0,
    'ALTER TABLE event_history
       ADD COLUMN version INT UNSIGNED NOT NULL DEFAULT 0 AFTER type,
       ADD COLUMN request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER version',
    'DO 0'
  )
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND table_name = 'event_history' AND column_name = 'version'
);
PREPARE add_event_columns FROM @add_event_columns;
EXECUTE add_event_columns;
DEALLOCATE PREPARE add_event_columns;

-- Events recorded before versions were: the version is the number of earlier events of the same
-- subscription (a purchase is 0). Recomputing gives the same numbers, so a second run is harmless.
UPDATE event_history e
  JOIN (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY id) - 1 AS version
    FROM event_history
  ) numbered ON numbered.id = e.id
SET e.version = numbered.version
WHERE e.version <> numbered.version;

-- One row that every transaction appending events locks just before it inserts them, in the same
-- round trip as its COMMIT: transactions then take their event ids and commit in the same order,
-- so an event becomes visible only after every event with a smaller id. A reader that goes on
-- from the last id it saw (the relay, a client of the events feed) never skips one.
CREATE TABLE IF NOT EXISTS event_commit_lock (
  id TINYINT UNSIGNED NOT NULL,
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT IGNORE INTO event_commit_lock (id) VALUES (1);

-- How far the relay has published: every event up to published_through is confirmed by the
-- broker. History recorded before events were published is not sent again: it starts at the
-- newest event there is when this file is applied (the feed serves the older ones).
CREATE TABLE IF NOT EXISTS event_relay (
  id TINYINT UNSIGNED NOT NULL,
  published_through BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT IGNORE INTO event_relay (id, published_through, updated_at)
  SELECT 1, COALESCE(MAX(id), 0), CURRENT_TIMESTAMP(3) FROM event_history;

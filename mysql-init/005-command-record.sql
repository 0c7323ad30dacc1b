-- One lean row per command that has ended, in place of processed_command and command_outcome
-- (two rows per command, with hex-text keys in random order, a reply as JSON text and an index on
-- time each). Keyed by when the producer accepted the command (read from its id) and a hash of
-- the id, rows are appended in time order and purged from the start of the primary key, so the
-- table stays small in the buffer pool however many the retention holds. An applied command
-- keeps no copy of its reply: it points at its history row, which says the subscription as the
-- change left it. Only a refusal keeps its error.

CREATE TABLE IF NOT EXISTS command_record (
  -- Epoch milliseconds, from the command id; 0 for a message id of another form.
  accepted_at BIGINT UNSIGNED NOT NULL,
  -- The first 8 bytes of SHA-256 of the command id (the AMQP message id).
  id_hash BINARY(8) NOT NULL,
  -- Applied: the history row of its change. Otherwise NULL.
  event_id BIGINT UNSIGNED NULL,
  -- Refused, or ended unapplied: the reply's error, JSON {"code", "message", "current_status"?}.
  refusal VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  -- The X-Request-Id of the request that sent a refused command, for its problem's request_id.
  request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  completed_at DATETIME(3) NOT NULL,
  PRIMARY KEY (accepted_at, id_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The Idempotency-Keys clients sent, only for the commands that carried one: which request the
-- key stands for, and the command that first used it (whose record is the stored outcome).
CREATE TABLE IF NOT EXISTS idempotency_key (
  -- The first 16 bytes of SHA-256 of "<scope>:<key>" (the scope is the caller).
  key_hash BINARY(16) NOT NULL,
  -- The first 16 bytes of SHA-256 of the command's name and body: another request is refused.
  request_hash BINARY(16) NOT NULL,
  accepted_at BIGINT UNSIGNED NOT NULL,
  id_hash BINARY(8) NOT NULL,
  PRIMARY KEY (key_hash),
  -- Purged with the records, by the same time.
  KEY idx_idempotency_key_accepted (accepted_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The two tables these replace. Their records are not carried over: a repeat, within the
-- retention, of a command that ended before this file was applied is not recognised as one.
DROP TABLE IF EXISTS processed_command;
DROP TABLE IF EXISTS command_outcome;

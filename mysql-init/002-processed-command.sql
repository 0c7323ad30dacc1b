-- One row per command the consumer has applied or refused, written in the same transaction as
-- the change. A redelivered command (same message id) or a client retry (same Idempotency-Key
-- in the same scope) finds its row and gets the stored reply again instead of a second change.

CREATE TABLE IF NOT EXISTS processed_command (
  -- SHA-256 (hex) of "key:<scope>:<Idempotency-Key>" or of "message:<message id>".
  command_key CHAR(64) NOT NULL,
  -- SHA-256 (hex) of the command name and body: a key reused for another request is refused.
  request_hash CHAR(64) NOT NULL,
  idempotency_key VARCHAR(255) NULL,
  message_id VARCHAR(255) NULL,
  -- The reply as sent, JSON text.
  reply TEXT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (command_key),
  KEY idx_processed_command_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

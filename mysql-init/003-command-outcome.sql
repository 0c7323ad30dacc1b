-- The outcome of every command that has ended, by command id (the AMQP message id, which the
-- producer hands to clients as the `Location` of the command resource). Written by the consumer
-- in the transaction that applied or refused the command, or, for one that ended unapplied on
-- the dead-letter exchange (poison, expired, failed), once it is recorded from there. No row
-- means the command is still pending. Purged with processed_command.

CREATE TABLE IF NOT EXISTS command_outcome (
  command_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- The reply as the consumer gives it, JSON text; the producer turns it into the HTTP answer.
  reply TEXT NOT NULL,
  -- The X-Request-Id of the request that sent the command, for the answer's request_id.
  request_id VARCHAR(255) NULL,
  completed_at DATETIME(3) NOT NULL,
  PRIMARY KEY (command_id),
  KEY idx_command_outcome_completed (completed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

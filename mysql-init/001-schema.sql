-- The schema of the subscription service. Runs as-is on MySQL 8.4 and MariaDB 10.11; the compose
-- `migrate` service and `npm run db:migrate` apply it alike (node consumer/dist/migrate-main.js).
-- Every statement is idempotent, so a database whose tables were made before schema_migration
-- recorded the applied files is brought up to date the same way.

CREATE TABLE IF NOT EXISTS `user` (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  full_name VARCHAR(255) NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS status (
  id TINYINT UNSIGNED NOT NULL,
  status_name VARCHAR(32) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_status_name (status_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS subscription (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id BIGINT UNSIGNED NOT NULL,
  status_id TINYINT UNSIGNED NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NULL,
  -- Bumped by every applied change: lets readers and tests see how often a row moved.
  version INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  -- Serves both the list filtered by user and its cursor (id) order.
  KEY idx_subscription_user (user_id, id),
  KEY idx_subscription_status (status_id),
  CONSTRAINT fk_subscription_user FOREIGN KEY (user_id) REFERENCES `user` (id),
  CONSTRAINT fk_subscription_status FOREIGN KEY (status_id) REFERENCES status (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS event_history (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  subscription_id BIGINT UNSIGNED NOT NULL,
  type ENUM('SUBSCRIPTION_PURCHASED', 'SUBSCRIPTION_CANCELED', 'SUBSCRIPTION_RESTARTED') NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_event_history_subscription (subscription_id, id),
  CONSTRAINT fk_event_history_subscription FOREIGN KEY (subscription_id) REFERENCES subscription (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT IGNORE INTO status (id, status_name) VALUES (1, 'ACTIVE'), (2, 'CANCELED');

INSERT IGNORE INTO `user` (id, full_name) VALUES (1, 'Admin');

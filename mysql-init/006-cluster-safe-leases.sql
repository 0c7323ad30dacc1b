-- Safe on a cluster of several writers' nodes (MariaDB Galera), and still on one server:
-- nothing decides cluster-wide through a lock that only one node sees (GET_LOCK, SELECT ... FOR
-- UPDATE without a write). Idempotent, as every file here.

-- The event relay leads by a lease in this row, not by a named lock: a relay takes it when it is
-- free or expired, keeps it by renewing it, and each taking raises the term. Its position is
-- written only under the term it took (a fencing token), so a relay that lost the lease without
-- knowing can no longer move the position.
SET @add_relay_lease = (
  SELECT IF(
    COUNT(*) = 0,
    'ALTER TABLE event_relay
       ADD COLUMN leader VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
       ADD COLUMN term BIGINT UNSIGNED NOT NULL DEFAULT 0,
       ADD COLUMN lease_until DATETIME(3) NULL',
    'DO 0'
  )
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND table_name = 'event_relay' AND column_name = 'term'
);
PREPARE add_relay_lease FROM @add_relay_lease;
EXECUTE add_relay_lease;
DEALLOCATE PREPARE add_relay_lease;

-- The commit lock of events becomes a write: a transaction appending events updates this row.
-- On one server that locks as SELECT ... FOR UPDATE did; on a cluster two such transactions on
-- two nodes conflict, and one is retried, so events still commit, cluster-wide, in id order.
SET @add_commit_counter = (
  SELECT IF(
    COUNT(*) = 0,
    'ALTER TABLE event_commit_lock ADD COLUMN commits BIGINT UNSIGNED NOT NULL DEFAULT 0',
    'DO 0'
  )
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND table_name = 'event_commit_lock' AND column_name = 'commits'
);
PREPARE add_commit_counter FROM @add_commit_counter;
EXECUTE add_commit_counter;
DEALLOCATE PREPARE add_commit_counter;

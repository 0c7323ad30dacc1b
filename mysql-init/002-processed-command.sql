-- Once created processed_command, a table 005-command-record.sql replaced with command_record.
-- A new database no longer creates it only for 005 to drop it again; the file stays, doing
-- nothing, so that every database records the same files in schema_migration. A database that
-- has the table from before loses it in 005.

DO 0;

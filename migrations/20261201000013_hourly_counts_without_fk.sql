-- The hourly counts are upserted by every ingest batch. Their foreign key to error_groups cost
-- every new row a check of the group row and a lock on it (pg_stat_statements over the
-- single-event benchmark: ~0.25 ms per check, a fifth of PostgreSQL's time). The writer inserts
-- the counts in the transaction that creates or updates their group, and groups are never
-- deleted on their own — the same reasoning that took the foreign keys off error_events.
ALTER TABLE group_counts_hourly DROP CONSTRAINT group_counts_hourly_group_fkey;

-- Only events an agent reported are ever looked up by agent (its page and its list row, both
-- `agent_id = …`, which implies NOT NULL); events from services and Sentry SDKs carry none, and
-- indexing their NULLs cost every such insert a fourth index entry for nothing.
DROP INDEX error_events_agent_idx;
CREATE INDEX error_events_agent_idx ON error_events (tenant_id, agent_id, received_at DESC)
    WHERE agent_id IS NOT NULL;

-- The resolution workflow beyond resolve/reopen: ignoring (forever, for a while, or until
-- N more events arrive — then the group reopens by itself) and assignment to a member or
-- an agent of the same company.
ALTER TABLE error_groups
    ADD COLUMN ignored_until       timestamptz,
    ADD COLUMN ignored_until_count bigint,
    -- Set when an ignore ends by itself, so the writer can tell whose batch reopened it.
    ADD COLUMN reopened_at         timestamptz,
    ADD COLUMN assignee_user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN assignee_agent_id   bigint,
    ADD CONSTRAINT error_groups_assignee_agent_fkey FOREIGN KEY (tenant_id, assignee_agent_id)
        REFERENCES agents (tenant_id, id) ON DELETE SET NULL (assignee_agent_id),
    ADD CONSTRAINT error_groups_one_assignee CHECK (assignee_user_id IS NULL OR assignee_agent_id IS NULL);
-- Ignores that end with time are swept; this finds them without reading every group.
CREATE INDEX error_groups_ignored_until_idx ON error_groups (ignored_until) WHERE status = 'ignored';

-- Whether new events end an ignore: the count it waits for is reached, or its time is up.
-- One definition for the writer's statements (inlined by the planner).
CREATE FUNCTION ignore_ends(status text, occurrences_after bigint, until timestamptz, until_count bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT status = 'ignored' AND coalesce(occurrences_after >= until_count OR until <= now(), false)
$$;

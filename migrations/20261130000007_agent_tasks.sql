-- Work handed to an agent (restart_service, clear_cache, reset_pool, …): claimed under a
-- lease by `next_task` (an expired lease makes it claimable again), finished by
-- `complete_task` with its output.
CREATE TABLE agent_tasks (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    agent_id    bigint NOT NULL,
    task        text NOT NULL CHECK (char_length(task) BETWEEN 1 AND 100),
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The error it is about, if any.
    group_id    bigint,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'claimed', 'succeeded', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at  timestamptz,
    finished_at timestamptz,
    output      text,
    CONSTRAINT agent_tasks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT agent_tasks_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT agent_tasks_group_fkey FOREIGN KEY (tenant_id, group_id)
        REFERENCES error_groups (tenant_id, id) ON DELETE SET NULL (group_id)
);
-- What an agent may claim next, oldest first.
CREATE INDEX agent_tasks_open_idx ON agent_tasks (tenant_id, agent_id, id)
    WHERE status IN ('pending', 'claimed');
-- An agent's recent tasks, for its page.
CREATE INDEX agent_tasks_agent_idx ON agent_tasks (tenant_id, agent_id, created_at DESC);

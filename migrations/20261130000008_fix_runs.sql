-- Fix runs: one remediation attempt of a playbook on an error group. The playbook is copied
-- into the run when it starts, so editing a playbook never changes a run already under way.
CREATE TABLE fix_runs (
    tenant_id      bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    group_id       bigint NOT NULL,
    -- The playbook it came from (gone when the playbook was deleted; the copy stays).
    playbook_id    bigint,
    playbook_name  text NOT NULL,
    spec           jsonb NOT NULL,
    -- What started it: a new or regressed group (auto), a person (user), an agent's API call
    -- (agent), an MCP client (mcp).
    trigger        text NOT NULL CHECK (trigger IN ('auto', 'user', 'agent', 'mcp')),
    triggered_by   text NOT NULL,
    -- Copied from the group: the circuit breaker is per playbook and service, learning per
    -- fingerprint.
    service        text NOT NULL,
    fingerprint    text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending_approval', 'queued', 'running',
                       'verifying', 'succeeded', 'failed', 'rolled_back', 'rejected', 'cancelled')),
    -- Who approved or rejected it, when, and why.
    decided_by     text,
    decided_at     timestamptz,
    decision_notes text,
    -- The engine worker holding it, until when (an expired lease means its server died).
    worker         text,
    lease_until    timestamptz,
    -- Whether any action has started (a run that has not acted yet is safe to start again).
    acted          boolean NOT NULL DEFAULT false,
    -- Why it ended the way it did.
    reason         text,
    -- The investigate_error task handed to the responder agent when it failed.
    responder_task_id bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    CONSTRAINT fix_runs_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fix_runs_group_fkey FOREIGN KEY (tenant_id, group_id)
        REFERENCES error_groups (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fix_runs_playbook_fkey FOREIGN KEY (tenant_id, playbook_id)
        REFERENCES playbooks (tenant_id, id) ON DELETE SET NULL (playbook_id)
);
-- What the workers claim next, oldest first, across all companies.
CREATE INDEX fix_runs_queued_idx ON fix_runs (created_at, tenant_id, id) WHERE status = 'queued';
-- Runs in progress (crash recovery) and waiting for approval (expiry).
CREATE INDEX fix_runs_active_idx ON fix_runs (status, lease_until)
    WHERE status IN ('pending_approval', 'running', 'verifying');
-- The auto-fix log, newest first; a group's runs; a playbook's runs on a group (cooldown,
-- attempts).
CREATE INDEX fix_runs_tenant_idx ON fix_runs (tenant_id, id DESC);
CREATE INDEX fix_runs_group_idx ON fix_runs (tenant_id, group_id, playbook_id, created_at DESC);

-- The step-by-step log of a run: every action, verification and rollback step with its
-- output.
CREATE TABLE fix_run_steps (
    tenant_id   bigint NOT NULL,
    run_id      bigint NOT NULL,
    seq         integer NOT NULL,
    phase       text NOT NULL CHECK (phase IN ('act', 'verify', 'rollback', 'note')),
    description text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    output      text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT fix_run_steps_pkey PRIMARY KEY (tenant_id, run_id, seq),
    CONSTRAINT fix_run_steps_run_fkey FOREIGN KEY (tenant_id, run_id)
        REFERENCES fix_runs (tenant_id, id) ON DELETE CASCADE
);

-- New and regressed groups the engine has not looked at yet: written by the ingest writers in
-- the same transaction as the group (only for companies with an automatic playbook), taken by
-- whichever replica's dispatcher gets there first.
CREATE TABLE fix_triggers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    group_id   bigint NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('new', 'regressed')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- What worked for one kind of error: success and failure counts per playbook and fingerprint.
CREATE TABLE fix_stats (
    tenant_id   bigint NOT NULL,
    playbook_id bigint NOT NULL,
    fingerprint text NOT NULL,
    successes   bigint NOT NULL DEFAULT 0,
    failures    bigint NOT NULL DEFAULT 0,
    CONSTRAINT fix_stats_pkey PRIMARY KEY (tenant_id, fingerprint, playbook_id),
    CONSTRAINT fix_stats_playbook_fkey FOREIGN KEY (tenant_id, playbook_id)
        REFERENCES playbooks (tenant_id, id) ON DELETE CASCADE
);

-- The circuit breaker per playbook and service: consecutive failures, and until when it is
-- open (no run of that playbook on that service starts meanwhile).
CREATE TABLE fix_breakers (
    tenant_id   bigint NOT NULL,
    playbook_id bigint NOT NULL,
    service     text NOT NULL,
    consecutive_failures integer NOT NULL DEFAULT 0,
    open_until  timestamptz,
    CONSTRAINT fix_breakers_pkey PRIMARY KEY (tenant_id, playbook_id, service),
    CONSTRAINT fix_breakers_playbook_fkey FOREIGN KEY (tenant_id, playbook_id)
        REFERENCES playbooks (tenant_id, id) ON DELETE CASCADE
);

-- Playbooks: how a company's known errors are fixed. `spec` is the playbook as written
-- (checked by the app: match rules, steps, verification, rollback); name, mode, risk and
-- enabled are copied out of it for lists and for the engine's lookups. Success and failure
-- counts are what the engine learned.
CREATE TABLE playbooks (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    spec        jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT false,
    mode        text NOT NULL CHECK (mode IN ('automatic', 'manual')),
    risk        text NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    successes   bigint NOT NULL DEFAULT 0,
    failures    bigint NOT NULL DEFAULT 0,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT playbooks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT playbooks_name_key UNIQUE (tenant_id, name)
);
-- The engine looks up a company's enabled playbooks on every new or regressed group.
CREATE INDEX playbooks_enabled_idx ON playbooks (tenant_id) WHERE enabled;

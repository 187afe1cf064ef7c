-- Ingestion: agents, error groups (one per tenant + fingerprint), every event, hourly
-- counts for charts, and the activity history of each group.

CREATE TABLE agents (
    tenant_id         bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    name              text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    kind              text NOT NULL DEFAULT 'agent',
    version           text,
    host              text,
    capabilities      text[] NOT NULL DEFAULT '{}',
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status            text NOT NULL DEFAULT 'online',
    metrics           jsonb NOT NULL DEFAULT '{}'::jsonb,
    registered_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agents_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT agents_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE error_groups (
    tenant_id           bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    fingerprint         text NOT NULL,
    service             text NOT NULL,
    error_type          text NOT NULL,
    category            text NOT NULL CONSTRAINT error_groups_category_check
                        CHECK (category IN ('network', 'resource', 'config', 'dependency', 'runtime', 'auth', 'unknown')),
    -- The worst severity seen.
    severity            text NOT NULL CONSTRAINT error_groups_severity_check
                        CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    severity_rank       smallint NOT NULL,
    title               text NOT NULL,
    first_seen          timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,
    occurrences         bigint NOT NULL,
    status              text NOT NULL DEFAULT 'unresolved' CONSTRAINT error_groups_status_check
                        CHECK (status IN ('unresolved', 'resolved', 'ignored', 'regressed')),
    resolved_at         timestamptz,
    resolved_by         text,
    resolution_notes    text,
    regressed_at        timestamptz,
    last_agent_id       bigint,
    auto_fix_attempted  boolean NOT NULL DEFAULT false,
    auto_fix_successful boolean NOT NULL DEFAULT false,
    search              tsvector GENERATED ALWAYS AS (
                            to_tsvector('simple', service || ' ' || error_type || ' ' || title)
                        ) STORED,
    CONSTRAINT error_groups_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT error_groups_fingerprint_key UNIQUE (tenant_id, fingerprint)
);
CREATE INDEX error_groups_last_seen_idx ON error_groups (tenant_id, last_seen DESC, id DESC);
CREATE INDEX error_groups_status_idx ON error_groups (tenant_id, status, last_seen DESC, id DESC);
CREATE INDEX error_groups_severity_idx ON error_groups (tenant_id, severity, last_seen DESC);
CREATE INDEX error_groups_service_idx ON error_groups (tenant_id, service, last_seen DESC);
CREATE INDEX error_groups_category_idx ON error_groups (tenant_id, category, last_seen DESC);
CREATE INDEX error_groups_agent_idx ON error_groups (tenant_id, last_agent_id, last_seen DESC);
CREATE INDEX error_groups_count_idx ON error_groups (tenant_id, occurrences DESC, id DESC);
CREATE INDEX error_groups_first_seen_idx ON error_groups (tenant_id, first_seen DESC, id DESC);
CREATE INDEX error_groups_search_idx ON error_groups USING gin (search);

CREATE TABLE error_events (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    -- Client-supplied or generated; a retry with the same id is stored and counted once.
    event_id    uuid NOT NULL,
    group_id    bigint NOT NULL,
    agent_id    bigint,
    service     text NOT NULL,
    severity    text NOT NULL,
    message     text NOT NULL,
    details     jsonb,
    stack_trace text,
    environment text,
    release     text,
    tags        jsonb,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT error_events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT error_events_event_id_key UNIQUE (tenant_id, event_id),
    CONSTRAINT error_events_group_fkey FOREIGN KEY (tenant_id, group_id)
        REFERENCES error_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX error_events_group_idx ON error_events (tenant_id, group_id, id DESC);
CREATE INDEX error_events_agent_idx ON error_events (tenant_id, agent_id, received_at DESC);

CREATE TABLE group_counts_hourly (
    tenant_id bigint NOT NULL,
    group_id  bigint NOT NULL,
    hour      timestamptz NOT NULL,
    count     bigint NOT NULL,
    CONSTRAINT group_counts_hourly_pkey PRIMARY KEY (tenant_id, group_id, hour),
    CONSTRAINT group_counts_hourly_group_fkey FOREIGN KEY (tenant_id, group_id)
        REFERENCES error_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_counts_hourly_hour_idx ON group_counts_hourly (tenant_id, hour);

CREATE TABLE activity (
    tenant_id bigint NOT NULL,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    group_id  bigint NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CONSTRAINT activity_kind_check
              CHECK (kind IN ('first_seen', 'resolved', 'reopened', 'regressed', 'ignored', 'assigned',
                              'commented', 'fix_started', 'fix_finished')),
    actor     text NOT NULL,
    notes     text,
    details   jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT activity_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT activity_group_fkey FOREIGN KEY (tenant_id, group_id)
        REFERENCES error_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX activity_group_idx ON activity (tenant_id, group_id, at DESC, id DESC);

-- Alert rules: what a company wants to hear about (a new group, a regression, more than N
-- events in M minutes per group or service, a failed fix, an agent offline for N minutes),
-- filtered by severity, service and environment, sent to a generic webhook or a Slack
-- incoming webhook, at most once per throttle period.
CREATE TABLE alert_rules (
    tenant_id      bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    kind           text NOT NULL CHECK (kind IN ('new_group', 'regression', 'rate', 'fix_failed', 'agent_offline')),
    -- rate: more than this many events; agent_offline: minutes without a heartbeat.
    threshold      integer NOT NULL DEFAULT 0 CHECK (threshold >= 0),
    -- rate: the window, in minutes.
    window_minutes integer NOT NULL DEFAULT 5 CHECK (window_minutes BETWEEN 1 AND 1440),
    -- rate: counted per group or per service.
    per            text NOT NULL DEFAULT 'group' CHECK (per IN ('group', 'service')),
    min_severity   text CHECK (min_severity IN ('critical', 'error', 'warning', 'info')),
    service        text,
    environment    text,
    channel        text NOT NULL CHECK (channel IN ('webhook', 'slack')),
    url            text NOT NULL,
    throttle_secs  integer NOT NULL DEFAULT 300 CHECK (throttle_secs BETWEEN 0 AND 86400),
    enabled        boolean NOT NULL DEFAULT true,
    last_fired_at  timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_rules_pkey PRIMARY KEY (tenant_id, id)
);

-- The outbox: every alert to send, sent (and retried with backoff) by whichever replica
-- claims it first, and kept as the delivery log.
CREATE TABLE alert_deliveries (
    tenant_id       bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    rule_id         bigint,
    rule_name       text NOT NULL,
    event           text NOT NULL,
    summary         text NOT NULL,
    payload         jsonb NOT NULL,
    channel         text NOT NULL,
    url             text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    response_status integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CONSTRAINT alert_deliveries_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT alert_deliveries_rule_fkey FOREIGN KEY (tenant_id, rule_id)
        REFERENCES alert_rules (tenant_id, id) ON DELETE SET NULL (rule_id)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_tenant_idx ON alert_deliveries (tenant_id, id DESC);

-- Things that happened and may alert (new and regressed groups from the ingest writers, failed
-- fixes from the engine), in the same transaction, taken by the alert evaluator.
CREATE TABLE alert_triggers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('new_group', 'regression', 'fix_failed')),
    group_id   bigint NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

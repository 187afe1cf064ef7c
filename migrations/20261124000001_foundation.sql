-- Foundation: tenants, users, memberships, sessions, API keys, audit log, login throttling.
-- Every tenant-owned table keys on tenant_id first (ready to distribute by tenant).

CREATE TABLE tenants (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug           text NOT NULL CONSTRAINT tenants_slug_key UNIQUE
                   CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name           text NOT NULL CONSTRAINT tenants_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    retention_days integer NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-cased; the unique constraint therefore compares case-insensitively.
    email          text NOT NULL CONSTRAINT users_email_key UNIQUE
                   CONSTRAINT users_email_lowercase CHECK (email = lower(email)),
    password_hash  text NOT NULL,
    is_super_admin boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);

CREATE TABLE memberships (
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CONSTRAINT memberships_role_check CHECK (role IN ('admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE api_keys (
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown in lists so people can tell keys apart.
    prefix       text NOT NULL,
    -- SHA-256 (hex) of the whole key; the key itself is never stored.
    key_hash     text NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    scopes       text[] NOT NULL CONSTRAINT api_keys_scopes_check
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'write', 'fix']),
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id)
);

CREATE TABLE audit_log (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_log_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC);

-- Failed sign-ins per e-mail address, for throttling. Unknown addresses are counted too,
-- so the throttle does not reveal which addresses exist.
CREATE TABLE login_failures (
    email        text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL
);

-- Sessions (tower-sessions records, stored by server/src/session_store.rs).
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE tower_sessions.session (
    id          text PRIMARY KEY NOT NULL,
    data        bytea NOT NULL,
    expiry_date timestamptz NOT NULL
);
CREATE INDEX session_expiry_idx ON tower_sessions.session (expiry_date);

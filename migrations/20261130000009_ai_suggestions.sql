-- AI fix suggestions, cached per company and error fingerprint (asking again about the same
-- kind of error costs nothing), and the tokens each company spent, for its per-minute budget.
CREATE TABLE ai_suggestions (
    tenant_id     bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    fingerprint   text NOT NULL,
    model         text NOT NULL,
    suggestion    text NOT NULL,
    input_tokens  integer NOT NULL,
    output_tokens integer NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_suggestions_pkey PRIMARY KEY (tenant_id, fingerprint)
);

CREATE TABLE ai_usage (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    at        timestamptz NOT NULL DEFAULT now(),
    tokens    integer NOT NULL,
    CONSTRAINT ai_usage_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ai_usage_recent_idx ON ai_usage (tenant_id, at);

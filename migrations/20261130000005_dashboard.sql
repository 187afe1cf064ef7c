-- The dashboard's overview, agent pages and company settings.

-- Recent activity across a company (overview, agent pages), newest first.
CREATE INDEX activity_tenant_at_idx ON activity (tenant_id, at DESC, id DESC);

-- The agent that is handed failed fixes to investigate (set in Settings).
ALTER TABLE tenants
    ADD COLUMN responder_agent_id bigint,
    ADD CONSTRAINT tenants_responder_agent_fkey FOREIGN KEY (id, responder_agent_id)
        REFERENCES agents (tenant_id, id) ON DELETE SET NULL (responder_agent_id);


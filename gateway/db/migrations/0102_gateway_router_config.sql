-- Gateway-owned table: versioned AUTO router configurations (tier cut points and signal
-- weights). Why a table: ML engineers tune thresholds while the service runs, every
-- replica must pick the new version up without a restart, and each routing decision
-- records the version it used (routing_decisions.config_version), so old versions are
-- kept, never updated in place. organization_id NULL is the default for every
-- organization that has no configuration of its own.
CREATE TABLE gateway_router_config (
    version BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id UUID REFERENCES organizations(id) ON DELETE CASCADE,
    config JSONB NOT NULL,
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE gateway_router_config IS 'Versioned AUTO router configurations; newest per organization wins';
CREATE INDEX idx_gateway_router_config_org ON gateway_router_config (organization_id, version DESC);

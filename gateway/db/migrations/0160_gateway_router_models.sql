-- Gateway-owned table: trained AUTO router models (issue 12). Why a table: a model trained
-- with `gateway router train --save` must reach every replica without a file on each, and a
-- router configuration version names the model it scores with (config.model_id), so a
-- model row is never updated in place (a retrained model is a new row). organization_id
-- NULL is a model any organization's configuration may use.
CREATE TABLE gateway_router_models (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    format_version INTEGER NOT NULL,
    artifact JSONB NOT NULL,
    metrics JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE gateway_router_models IS 'Trained AUTO router models (JSON artifacts); rows are immutable';
CREATE INDEX idx_gateway_router_models_org ON gateway_router_models (organization_id, created_at DESC);

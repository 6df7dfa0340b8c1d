-- Seed schema, part 6: the AUTO-mode routing log (one row per routed request: score, tier,
-- chosen model), read back by the router's replay and calibration tools. Conventions: 0001.
--
-- conversation_id is UUID while conversations.id is TEXT: kept exactly as the reference,
-- and therefore without a foreign key (the types cannot reference each other).

CREATE TABLE routing_decisions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id UUID REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id UUID,
    provider VARCHAR(50) NOT NULL,
    conversation_turn INTEGER NOT NULL DEFAULT 1,
    selected_model VARCHAR(100) NOT NULL,
    tier VARCHAR(20) NOT NULL,
    score INTEGER NOT NULL,
    confidence REAL NOT NULL,
    reasoning TEXT,
    query_length INTEGER,
    request_succeeded BOOLEAN,
    response_tokens INTEGER,
    estimated_cost_millicents INTEGER
);

CREATE INDEX idx_routing_decisions_created ON routing_decisions (created_at);
CREATE INDEX idx_routing_decisions_org ON routing_decisions (organization_id, created_at);
CREATE INDEX idx_routing_decisions_user ON routing_decisions (user_id, created_at);
CREATE INDEX idx_routing_decisions_tier ON routing_decisions (tier, created_at);
CREATE INDEX idx_routing_decisions_model ON routing_decisions (selected_model, created_at);
CREATE INDEX idx_routing_decisions_provider ON routing_decisions (provider, created_at);

COMMENT ON TABLE routing_decisions IS 'AUTO mode routing decision log for analytics and tuning';
COMMENT ON COLUMN routing_decisions.tier IS 'Complexity tier: simple (Haiku), medium (Sonnet), complex (Opus)';
COMMENT ON COLUMN routing_decisions.score IS 'Complexity score 0-100 from query analysis';
COMMENT ON COLUMN routing_decisions.confidence IS 'Router confidence in the classification (0.0-1.0)';

-- Seed schema, part 5: one row per LLM request with its token counts and cost. The gateway
-- writes a row for every request (usage is always recorded) and the cost reports read it.
-- Money is integer millicents (1000 millicents = 1 cent). Conventions: see 0001.
--
-- organization_id and user_id reference their tables without ON DELETE (NO ACTION), as in
-- the reference: usage is a financial record, so deleting a user or an organization that
-- still has usage must fail rather than silently erase spend.

CREATE TABLE llm_usage (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    user_id UUID NOT NULL REFERENCES users (id),
    conversation_id TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    model TEXT NOT NULL,
    request_type TEXT NOT NULL DEFAULT 'chat',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER DEFAULT 0,
    cache_read_tokens INTEGER DEFAULT 0,
    estimated_cost_millicents INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_llm_usage_org_date ON llm_usage (organization_id, created_at);
CREATE INDEX idx_llm_usage_user_date ON llm_usage (user_id, created_at);
CREATE INDEX idx_llm_usage_model ON llm_usage (organization_id, model, created_at);

COMMENT ON TABLE llm_usage IS 'Token usage tracking per LLM request for analytics and cost monitoring';
COMMENT ON COLUMN llm_usage.request_type IS 'Type of request: chat (main chat), arena (model arena), second-opinion (comparison)';
COMMENT ON COLUMN llm_usage.cache_creation_tokens IS 'Tokens used to create new cache entries (Anthropic prompt caching)';
COMMENT ON COLUMN llm_usage.cache_read_tokens IS 'Tokens read from cache (90% cost savings)';
COMMENT ON COLUMN llm_usage.estimated_cost_millicents IS 'Estimated cost in millicents (1000 millicents = 1 cent)';

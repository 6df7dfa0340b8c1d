-- Columns the gateway adds to seed tables. Why each one:
-- * llm_usage.provider / llm_usage.tier: finance groups cost by provider and model tier
--   (basic/standard/premium) as they were at request time; a later catalog change must not
--   rewrite history, so they are recorded, not joined.
-- * llm_usage.status: failed and client-cancelled streams are billed too ('success',
--   'error', 'cancelled'); reports and reconciliation need to tell them apart.
-- * llm_usage.usage_estimated: true when the provider never reported output tokens (a
--   cancelled stream) and the gateway estimated them from the streamed text.
-- * llm_usage.request_id / routing_decisions.request_id: joins a usage row to its AUTO
--   routing decision (and to the X-Request-Id the client saw) without guessing by time.
-- * llm_usage.auto_routed: AUTO requests, for the router-savings report.
-- * llm_usage.latency_ms / ttft_ms: operations and router tuning.
-- Token semantics (documented in the README): prompt_tokens counts uncached input only;
-- cache_creation_tokens and cache_read_tokens are separate; total_tokens is the sum of all
-- four. This is Anthropic's convention, and it makes cost a plain dot product.
ALTER TABLE llm_usage
    ADD COLUMN provider TEXT,
    ADD COLUMN tier TEXT,
    ADD COLUMN status TEXT NOT NULL DEFAULT 'success',
    ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN request_id UUID,
    ADD COLUMN auto_routed BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN latency_ms INTEGER,
    ADD COLUMN ttft_ms INTEGER;
COMMENT ON COLUMN llm_usage.status IS 'success, error or cancelled (failed and cancelled streams are billed)';
COMMENT ON COLUMN llm_usage.usage_estimated IS 'True when output tokens were estimated (provider sent no usage)';
CREATE UNIQUE INDEX idx_llm_usage_request ON llm_usage (request_id) WHERE request_id IS NOT NULL;

ALTER TABLE routing_decisions ADD COLUMN request_id UUID;
ALTER TABLE routing_decisions ADD COLUMN config_version INTEGER;
COMMENT ON COLUMN routing_decisions.config_version IS 'Router configuration version used for this decision';
CREATE UNIQUE INDEX idx_routing_decisions_request ON routing_decisions (request_id) WHERE request_id IS NOT NULL;

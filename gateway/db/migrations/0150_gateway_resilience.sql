-- Resilience (issue 10). Why each column:
-- * llm_usage.deployment: a model can be served by several deployments (keys, regions, base
--   URLs); operations and cost reviews need to know which one served (or failed) a request.
-- * llm_usage.attempt_of: a failed attempt the provider may bill (it returned tokens) gets a
--   row of its own with status 'error'; its request_id is the attempt's own id (so the unique
--   index and replay stay as they are) and attempt_of names the client request it belonged to.
-- * routing_decisions.fallback_from / attempts: an AUTO request whose chosen model failed and
--   fell back records the model it left and how many upstream attempts it took, so router
--   tuning does not mistake a fallback for the router's choice.
ALTER TABLE llm_usage
    ADD COLUMN deployment TEXT,
    ADD COLUMN attempt_of UUID;
COMMENT ON COLUMN llm_usage.deployment IS 'Deployment (key/region/base URL) of the model that served or failed';
COMMENT ON COLUMN llm_usage.attempt_of IS 'For a billable failed attempt: the request_id of the client request';
CREATE INDEX idx_llm_usage_attempt_of ON llm_usage (attempt_of) WHERE attempt_of IS NOT NULL;

ALTER TABLE routing_decisions
    ADD COLUMN fallback_from TEXT,
    ADD COLUMN attempts INTEGER;
COMMENT ON COLUMN routing_decisions.fallback_from IS 'The model AUTO chose when another one served after a failure';
COMMENT ON COLUMN routing_decisions.attempts IS 'Upstream attempts the request took (1 = no retry)';

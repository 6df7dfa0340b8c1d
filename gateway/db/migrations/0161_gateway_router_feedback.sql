-- Labels from an organization's own traffic (issue 12).
-- * gateway_router_feedback: `POST /v1/feedback` — a caller rates one of their own requests
--   (-1, 0, 1) or names another of their requests as the better answer. One row per
--   (user, request): a second call replaces the first, so a changed mind is not two votes.
-- * routing_decisions.query_text: the AUTO request's last user turn (first 2,000
--   characters), because a label is only trainable with the prompt it labels and the seed
--   keeps prompts only for requests stored in a conversation. NULL when the router's
--   keep_prompts setting is off.
CREATE TABLE gateway_router_feedback (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    request_id UUID NOT NULL,
    rating SMALLINT CHECK (rating IN (-1, 0, 1)),
    preferred_request_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CHECK ((rating IS NULL) <> (preferred_request_id IS NULL))
);
COMMENT ON TABLE gateway_router_feedback IS 'Caller feedback on their own requests: a rating or a preferred alternative';
CREATE UNIQUE INDEX idx_gateway_router_feedback_request ON gateway_router_feedback (user_id, request_id);
CREATE INDEX idx_gateway_router_feedback_org ON gateway_router_feedback (organization_id, created_at);

ALTER TABLE routing_decisions ADD COLUMN query_text TEXT;
COMMENT ON COLUMN routing_decisions.query_text IS 'Last user turn (first 2000 chars) for training the router; NULL if not kept';

-- Gateway-owned table (not in the seed): responses kept for the OpenAI Responses API.
-- Why: `store: true` (the API's default) promises that `GET /v1/responses/{id}` returns the
-- response later and that `previous_response_id` continues from it without the client
-- resending the conversation. The whole item chain (every earlier input and output item) is
-- kept with each response, so continuing a chain reads one row, not the chain's length.
-- Rows belong to one user of one organization; nobody else can read or delete them.
CREATE TABLE gateway_responses (
    id TEXT PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    items JSONB NOT NULL,
    response JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE gateway_responses IS 'Stored Responses API responses (store: true), per owner';
COMMENT ON COLUMN gateway_responses.items IS 'Input and output items of the whole chain up to and including this response';
COMMENT ON COLUMN gateway_responses.response IS 'The response object as GET /v1/responses/{id} returns it';
CREATE INDEX idx_gateway_responses_owner ON gateway_responses (organization_id, user_id, created_at);

-- Gateway-owned table (not in the seed): API keys for callers that are not the main
-- application. Why a table of its own: the seed has no API-key concept, and keys must
-- never be stored in a recoverable form. Only a SHA-256 digest of the whole key and a
-- short public prefix (shown in listings so people can tell keys apart) are kept.
CREATE TABLE gateway_api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT 'default',
    prefix TEXT NOT NULL,
    key_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
COMMENT ON TABLE gateway_api_keys IS 'Gateway API keys: SHA-256 digest and public prefix only, never the key';
COMMENT ON COLUMN gateway_api_keys.key_hash IS 'SHA-256 of the full key; compared in constant time';
COMMENT ON COLUMN gateway_api_keys.prefix IS 'Public, non-secret part of the key, for listings';
CREATE UNIQUE INDEX idx_gateway_api_keys_hash ON gateway_api_keys (key_hash);
CREATE UNIQUE INDEX idx_gateway_api_keys_prefix ON gateway_api_keys (prefix);
CREATE INDEX idx_gateway_api_keys_org ON gateway_api_keys (organization_id, created_at);
CREATE INDEX idx_gateway_api_keys_user ON gateway_api_keys (user_id);

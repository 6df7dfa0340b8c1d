-- Limits that hold across processes and replicas (issue 11). Why each piece:
-- * rpm_limit / tpm_limit / max_parallel on organizations and gateway_api_keys, and in
--   gateway_user_limits for users: requests per minute, tokens per minute (input + output,
--   settled from real usage) and concurrent requests. NULL means no limit. The seed's users
--   table is left as it is; per-user settings live in a gateway table of their own.
-- * gateway_api_keys.monthly_budget_millicents and gateway_user_limits.monthly_budget_millicents:
--   optional hard monthly budgets per key and per user, besides the organization's.
-- * gateway_budget_scope_counters: month-to-date spend and held amount per user or key
--   budget ('user:<uuid>' or 'key:<uuid>'); the organization keeps gateway_budget_counters.
-- * gateway_budget_leases: headroom a gateway process took from a counter row (the amount
--   counts in that row's reserved_millicents for every other process). A process admits
--   against its lease without a round trip, renews it before expires_at, and gives back what
--   it did not use; a lease of a dead process stops counting once expired (reclaimed by the
--   next process that takes a lease). holder 'request:<uuid>' is a strict reservation for
--   one request near the limit. amount is what the lease still holds: it shrinks as the
--   usage rows of the requests admitted under it land (in the same transaction).
ALTER TABLE organizations
    ADD COLUMN rpm_limit INTEGER CHECK (rpm_limit > 0),
    ADD COLUMN tpm_limit INTEGER CHECK (tpm_limit > 0),
    ADD COLUMN max_parallel INTEGER CHECK (max_parallel > 0);
COMMENT ON COLUMN organizations.rpm_limit IS 'Gateway: requests per minute for the whole organization (NULL: none)';
COMMENT ON COLUMN organizations.tpm_limit IS 'Gateway: input+output tokens per minute for the organization (NULL: none)';
COMMENT ON COLUMN organizations.max_parallel IS 'Gateway: concurrent requests for the organization (NULL: none)';

ALTER TABLE gateway_api_keys
    ADD COLUMN rpm_limit INTEGER CHECK (rpm_limit > 0),
    ADD COLUMN tpm_limit INTEGER CHECK (tpm_limit > 0),
    ADD COLUMN max_parallel INTEGER CHECK (max_parallel > 0),
    ADD COLUMN monthly_budget_millicents BIGINT CHECK (monthly_budget_millicents >= 0);
COMMENT ON COLUMN gateway_api_keys.monthly_budget_millicents IS 'Hard monthly budget of this key (NULL: none)';

CREATE TABLE gateway_user_limits (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    rpm_limit INTEGER CHECK (rpm_limit > 0),
    tpm_limit INTEGER CHECK (tpm_limit > 0),
    max_parallel INTEGER CHECK (max_parallel > 0),
    monthly_budget_millicents BIGINT CHECK (monthly_budget_millicents >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE gateway_user_limits IS 'Per-user rate limits and hard monthly budget within the organization';

CREATE TABLE gateway_budget_scope_counters (
    scope TEXT NOT NULL,
    month DATE NOT NULL,
    spent_millicents BIGINT NOT NULL DEFAULT 0,
    reserved_millicents BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (scope, month)
);
COMMENT ON TABLE gateway_budget_scope_counters IS 'Month-to-date spend and leased headroom of user and key budgets';

CREATE TABLE gateway_budget_leases (
    id UUID PRIMARY KEY,
    scope TEXT NOT NULL,
    month DATE NOT NULL,
    holder TEXT NOT NULL,
    amount_millicents BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    release_reason TEXT
);
COMMENT ON TABLE gateway_budget_leases IS 'Budget headroom held by a gateway process (or one request near the limit)';
COMMENT ON COLUMN gateway_budget_leases.scope IS 'org:<uuid>, user:<uuid> or key:<uuid>';
COMMENT ON COLUMN gateway_budget_leases.release_reason IS 'returned, settled, expired';
CREATE INDEX idx_gateway_budget_leases_open ON gateway_budget_leases (scope, expires_at) WHERE released_at IS NULL;

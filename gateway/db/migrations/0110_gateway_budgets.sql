-- Gateway-owned tables for monthly budgets, and two columns on audit_events. Why each one:
-- * gateway_budget_counters: month-to-date spend per organization, kept as a counter so the
--   request path never aggregates llm_usage. It is updated in the same transaction as the
--   llm_usage insert (the write queue's batch hook), so the two never diverge. month is the
--   first day of the calendar month in UTC. reserved_millicents is the sum of the open strict
--   reservations below (requests near a hard limit that are still in flight).
-- * gateway_budget_reservations: one row per strict reservation, so a settled request releases
--   exactly its own amount once (idempotent under write-queue replay) and a crashed process's
--   reservations stop counting at expires_at. Rows are kept (released_at set) for audit.
-- * gateway_budget_alerts: "exactly once per threshold per month", decided by the primary key,
--   so several gateway processes crossing the same threshold at once send one alert.
-- * audit_events.organization_id / metadata: refusals and policy changes name the organization
--   and carry the details (model, tier, spend) that the seed columns have no room for.
CREATE TABLE gateway_budget_counters (
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    month DATE NOT NULL,
    spent_millicents BIGINT NOT NULL DEFAULT 0,
    reserved_millicents BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (organization_id, month)
);
COMMENT ON TABLE gateway_budget_counters IS 'Month-to-date spend (UTC months) per organization, updated with each llm_usage batch';

CREATE TABLE gateway_budget_reservations (
    request_id UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    month DATE NOT NULL,
    amount_millicents BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    release_reason TEXT
);
COMMENT ON TABLE gateway_budget_reservations IS 'Worst-case cost held by requests admitted near a hard limit; released on settlement or expiry';
COMMENT ON COLUMN gateway_budget_reservations.release_reason IS 'settled or expired';
CREATE INDEX idx_gateway_budget_reservations_open
    ON gateway_budget_reservations (organization_id, expires_at) WHERE released_at IS NULL;
CREATE INDEX idx_gateway_budget_reservations_created ON gateway_budget_reservations (created_at);

CREATE TABLE gateway_budget_alerts (
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    month DATE NOT NULL,
    threshold_pct INTEGER NOT NULL,
    spent_millicents BIGINT NOT NULL,
    budget_millicents BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (organization_id, month, threshold_pct)
);
COMMENT ON TABLE gateway_budget_alerts IS 'One row per budget threshold crossed per organization per month (alert sent once)';

ALTER TABLE audit_events
    ADD COLUMN organization_id UUID,
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}'::jsonb;
COMMENT ON COLUMN audit_events.organization_id IS 'Organization the event concerns (gateway events)';
COMMENT ON COLUMN audit_events.metadata IS 'Event details, e.g. the refused model and tier, or old and new budget';
CREATE INDEX idx_audit_events_org ON audit_events (organization_id, created_at) WHERE organization_id IS NOT NULL;

-- Finance reports: an hourly rollup of llm_usage, kept exact by triggers, so a month's cost
-- report reads a few thousand pre-summed rows instead of every request row.
--
-- Why hourly, not daily: reports cut days (and weeks, months) at midnight in the caller's time
-- zone. A UTC hour lies wholly inside one local day in every zone whose offset is a whole number
-- of hours, so hourly buckets serve UTC and most zones; zones with a :30/:45 offset (Asia/Kolkata,
-- Australia/Adelaide...) are answered from llm_usage itself (gateway/reports/params.py decides).
--
-- Why this key: every group_by key (user, model, provider, tier, request_type) is a column, so
-- any combination is a GROUP BY over the rollup. auto_routed is kept so AUTO traffic can be told
-- apart. provider and tier are nullable in llm_usage (rows written by other applications) but
-- a primary key cannot hold NULL: they are stored as '' and read back as NULL.
--
-- Why triggers: rows written by anyone (the gateway's batch writer, the main application, a
-- manual fix) must stay in the rollup, in the same transaction, or finance cannot trust it.
-- STATEMENT-level triggers with transition tables sum a whole multi-row INSERT in one upsert.
-- UPDATE and DELETE subtract the old rows (and add the new ones) so the rollup stays equal to
-- SUM over llm_usage whatever happens; TRUNCATE empties it.
--
-- Why not partition llm_usage by month: it is a seed table whose primary key is (id); a
-- partitioned table needs created_at in every unique key, which changes the seed definition.
-- Reports no longer scan llm_usage, so partitioning would buy retention convenience only.

CREATE TABLE llm_usage_hourly (
    organization_id UUID NOT NULL,
    hour TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT '',
    request_type TEXT NOT NULL,
    auto_routed BOOLEAN NOT NULL,
    requests BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cost_millicents BIGINT NOT NULL,
    CONSTRAINT llm_usage_hourly_pkey PRIMARY KEY (
        organization_id, hour, user_id, model, provider, tier, request_type, auto_routed
    )
);

COMMENT ON TABLE llm_usage_hourly IS
    'Hourly (UTC) sums of llm_usage per org, user, model, provider, tier, request type and AUTO flag; maintained by triggers on llm_usage';
COMMENT ON COLUMN llm_usage_hourly.provider IS 'llm_usage.provider, or empty when it was NULL';
COMMENT ON COLUMN llm_usage_hourly.tier IS 'llm_usage.tier, or empty when it was NULL';

CREATE FUNCTION llm_usage_hourly_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Old rows first (UPDATE, DELETE): subtract them. date_trunc's third argument pins the
    -- bucket to UTC whatever the session's TimeZone is.
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO llm_usage_hourly AS h
        SELECT organization_id, date_trunc('hour', created_at, 'UTC'), user_id, model,
               COALESCE(provider, ''), COALESCE(tier, ''), request_type, auto_routed,
               -count(*), -sum(prompt_tokens), -sum(completion_tokens),
               -sum(COALESCE(cache_creation_tokens, 0)), -sum(COALESCE(cache_read_tokens, 0)),
               -sum(COALESCE(estimated_cost_millicents, 0))
        FROM old_rows
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT ON CONSTRAINT llm_usage_hourly_pkey DO UPDATE SET
            requests = h.requests + EXCLUDED.requests,
            prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,
            cache_creation_tokens = h.cache_creation_tokens + EXCLUDED.cache_creation_tokens,
            cache_read_tokens = h.cache_read_tokens + EXCLUDED.cache_read_tokens,
            cost_millicents = h.cost_millicents + EXCLUDED.cost_millicents;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        -- ORDER BY: concurrent writers lock rollup rows in the same order (no deadlock cycle).
        INSERT INTO llm_usage_hourly AS h
        SELECT organization_id, date_trunc('hour', created_at, 'UTC'), user_id, model,
               COALESCE(provider, ''), COALESCE(tier, ''), request_type, auto_routed,
               count(*), sum(prompt_tokens), sum(completion_tokens),
               sum(COALESCE(cache_creation_tokens, 0)), sum(COALESCE(cache_read_tokens, 0)),
               sum(COALESCE(estimated_cost_millicents, 0))
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT ON CONSTRAINT llm_usage_hourly_pkey DO UPDATE SET
            requests = h.requests + EXCLUDED.requests,
            prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,
            cache_creation_tokens = h.cache_creation_tokens + EXCLUDED.cache_creation_tokens,
            cache_read_tokens = h.cache_read_tokens + EXCLUDED.cache_read_tokens,
            cost_millicents = h.cost_millicents + EXCLUDED.cost_millicents;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- Drop buckets that no longer hold a row (probed by primary key, not scanned).
        DELETE FROM llm_usage_hourly AS h
        USING (
            SELECT DISTINCT organization_id, date_trunc('hour', created_at, 'UTC') AS hour, user_id, model,
                   COALESCE(provider, '') AS provider, COALESCE(tier, '') AS tier, request_type, auto_routed
            FROM old_rows
        ) AS o
        WHERE h.organization_id = o.organization_id AND h.hour = o.hour AND h.user_id = o.user_id
          AND h.model = o.model AND h.provider = o.provider AND h.tier = o.tier
          AND h.request_type = o.request_type AND h.auto_routed = o.auto_routed AND h.requests = 0;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION llm_usage_hourly_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE llm_usage_hourly;
    RETURN NULL;
END;
$$;

-- Block writers while the triggers are created and the backfill runs, so no row is counted
-- twice or missed (the lock is released when this migration's transaction commits).
LOCK TABLE llm_usage IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER llm_usage_hourly_insert AFTER INSERT ON llm_usage
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llm_usage_hourly_apply();
CREATE TRIGGER llm_usage_hourly_update AFTER UPDATE ON llm_usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llm_usage_hourly_apply();
CREATE TRIGGER llm_usage_hourly_delete AFTER DELETE ON llm_usage
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llm_usage_hourly_apply();
CREATE TRIGGER llm_usage_hourly_truncate AFTER TRUNCATE ON llm_usage
    FOR EACH STATEMENT EXECUTE FUNCTION llm_usage_hourly_truncate();

INSERT INTO llm_usage_hourly
SELECT organization_id, date_trunc('hour', created_at, 'UTC'), user_id, model,
       COALESCE(provider, ''), COALESCE(tier, ''), request_type, auto_routed,
       count(*), sum(prompt_tokens), sum(completion_tokens),
       sum(COALESCE(cache_creation_tokens, 0)), sum(COALESCE(cache_read_tokens, 0)),
       sum(COALESCE(estimated_cost_millicents, 0))
FROM llm_usage
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- The AUTO savings report prices AUTO rows one by one (per-row rounding, long-context
-- prices), so it reads llm_usage; this partial index finds an org's AUTO rows by time
-- without touching the others.
CREATE INDEX idx_llm_usage_auto_org_date ON llm_usage (organization_id, created_at) WHERE auto_routed;

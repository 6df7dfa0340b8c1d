-- Budget settlement of one write batch as one server-side call (gateway_settle_usage).
--
-- Why a function: the write batch's budget hook used to send about ten statements per batch
-- (the inserted rows, the strict reservations, a bump per organization, the leases' scopes,
-- a lock per counter row, the lease holds, a move per counter row). Each statement costs the
-- gateway's single core tens of microseconds of client-side Python, more than PostgreSQL
-- spends running it; one call carrying the batch as one JSON document costs that once.
--
-- What it does, in the batch's transaction (after the llm_usage insert), exactly what the
-- statements did:
-- 1. Only rows this transaction inserted count (matched by xmin): a replayed batch, whose rows
--    ON CONFLICT DO NOTHING skipped, moves nothing, so a hold is never released twice.
-- 2. Strict reservations (gateway_budget_reservations) of the batch's requests are released.
-- 3. Counter rows are locked in one global order: organization counters (by organization,
--    month), then user and key counters (by scope in C collation, month), seeding a missing row
--    as the request path does; only then the lease rows. take/give_back/reclaim lock one
--    counter row and then its leases, so no two transactions wait on each other in a cycle.
-- 4. Each lease gives up the holds of its landed requests (summed per lease, never below 0;
--    a 'request:' lease, one strict reservation, closes), and each counter row is updated once:
--    the inserted cost to spent (user and key scopes via their leases; an organization via its
--    rows), the released amounts out of reserved.
-- Returns one row per organization-month whose spend grew (before, after), for the alerts,
-- with the organization's budget settings so the alert check needs no query of its own.
--
-- p_batch: [[request_id, reserved_millicents, [[lease_id, scope, amount], ...]], ...]
CREATE FUNCTION gateway_settle_usage(p_batch json)
RETURNS TABLE (
    settled_org text, settled_month date, before_millicents bigint, after_millicents bigint,
    org_name text, budget_millicents bigint, alert_pct integer
)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_ids uuid[];
    v_reserved uuid[];
    -- Counter rows to touch, in lock order, with what moves on each.
    k_scope text[];
    k_month date[];
    k_spend bigint[];
    k_freed bigint[];
    k_leased boolean[];
    k_seeded boolean[];
    -- Holds of landed requests: lease, amount.
    h_lease uuid[];
    h_amount bigint[];
    v_rel record;
    v_scope text;
    v_id text;
    v_count integer;
    v_start timestamptz;
    v_end timestamptz;
    v_after bigint;
    i integer;
BEGIN
    SELECT array_agg((e->>0)::uuid), array_agg((e->>0)::uuid) FILTER (WHERE (e->>1)::bigint > 0)
    INTO v_ids, v_reserved FROM json_array_elements(p_batch) e;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    WITH ins AS (
        SELECT u.request_id AS rid, u.organization_id AS org,
               date_trunc('month', u.created_at AT TIME ZONE 'UTC')::date AS m,
               COALESCE(u.estimated_cost_millicents, 0)::bigint AS cost
        FROM llm_usage u
        WHERE u.request_id = ANY(v_ids)
          AND u.xmin::text::bigint = pg_current_xact_id()::text::bigint % 4294967296
    ), holds AS (
        SELECT (h->>0)::uuid AS lease_id, (h->>2)::bigint AS amount, landed.cost
        FROM json_array_elements(p_batch) e
        CROSS JOIN LATERAL json_array_elements(e->2) h
        JOIN ins landed ON landed.rid = (e->>0)::uuid
    ), rel AS (
        UPDATE gateway_budget_reservations r SET released_at = NOW(), release_reason = 'settled'
        WHERE v_reserved IS NOT NULL AND r.request_id = ANY(v_reserved) AND r.released_at IS NULL
        RETURNING r.organization_id AS org, r.month AS m, r.amount_millicents AS amount
    ), moves AS (
        SELECT 'org:' || org AS scope, m, cost AS spend, 0::bigint AS freed, false AS leased FROM ins
        UNION ALL
        SELECT 'org:' || org, m, 0, amount, false FROM rel
        UNION ALL
        -- Org spend moves with its rows (above); user and key spend with their leases.
        SELECT l.scope, l.month, CASE WHEN l.scope LIKE 'org:%' THEN 0 ELSE h.cost END, 0, true
        FROM holds h JOIN gateway_budget_leases l ON l.id = h.lease_id
    ), keys AS (
        SELECT scope, m, SUM(spend)::bigint AS spend, SUM(freed)::bigint AS freed, bool_or(leased) AS leased
        FROM moves GROUP BY scope, m
    )
    SELECT
        (SELECT array_agg(scope ORDER BY scope NOT LIKE 'org:%', scope COLLATE "C", m) FROM keys),
        (SELECT array_agg(m ORDER BY scope NOT LIKE 'org:%', scope COLLATE "C", m) FROM keys),
        (SELECT array_agg(spend ORDER BY scope NOT LIKE 'org:%', scope COLLATE "C", m) FROM keys),
        (SELECT array_agg(freed ORDER BY scope NOT LIKE 'org:%', scope COLLATE "C", m) FROM keys),
        (SELECT array_agg(leased ORDER BY scope NOT LIKE 'org:%', scope COLLATE "C", m) FROM keys),
        (SELECT array_agg(lease_id) FROM holds),
        (SELECT array_agg(amount) FROM holds)
    INTO k_scope, k_month, k_spend, k_freed, k_leased, h_lease, h_amount;
    IF k_scope IS NULL THEN
        RETURN;
    END IF;

    -- Lock (seeding on a first touch) every counter row, in order, before any lease row.
    k_seeded := array_fill(false, ARRAY[cardinality(k_scope)]);
    FOR i IN 1 .. cardinality(k_scope) LOOP
        IF NOT k_leased[i] AND k_spend[i] = 0 AND k_freed[i] = 0 THEN
            CONTINUE;  -- nothing moves on it (free requests of an organization without leases)
        END IF;
        v_scope := k_scope[i];
        v_id := split_part(v_scope, ':', 2);
        v_start := k_month[i]::timestamp AT TIME ZONE 'UTC';
        v_end := (k_month[i] + interval '1 month')::timestamp AT TIME ZONE 'UTC';
        IF v_scope LIKE 'org:%' THEN
            PERFORM 1 FROM gateway_budget_counters c
            WHERE c.organization_id = v_id::uuid AND c.month = k_month[i] FOR UPDATE;
            CONTINUE WHEN FOUND;
            -- First touch of the month: the seed sums llm_usage, this transaction's rows
            -- included, so their spend is in it already. After a concurrent first touch (whose
            -- seed could not see our rows) the row exists: it is locked and our spend added.
            INSERT INTO gateway_budget_counters (organization_id, month, spent_millicents)
            SELECT v_id::uuid, k_month[i], COALESCE(SUM(u.estimated_cost_millicents), 0)
            FROM llm_usage u
            WHERE u.organization_id = v_id::uuid AND u.created_at >= v_start AND u.created_at < v_end
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            k_seeded[i] := v_count = 1;
            IF v_count = 0 THEN
                PERFORM 1 FROM gateway_budget_counters c
                WHERE c.organization_id = v_id::uuid AND c.month = k_month[i] FOR UPDATE;
            END IF;
        ELSE
            PERFORM 1 FROM gateway_budget_scope_counters c
            WHERE c.scope = v_scope AND c.month = k_month[i] FOR UPDATE;
            CONTINUE WHEN FOUND;
            -- As lease_state.lock_counter seeds: a user from llm_usage, a key from zero.
            IF v_scope LIKE 'user:%' THEN
                INSERT INTO gateway_budget_scope_counters (scope, month, spent_millicents)
                SELECT v_scope, k_month[i], COALESCE(SUM(u.estimated_cost_millicents), 0)
                FROM llm_usage u
                WHERE u.user_id = v_id::uuid AND u.created_at >= v_start AND u.created_at < v_end
                ON CONFLICT DO NOTHING;
            ELSE
                INSERT INTO gateway_budget_scope_counters (scope, month) VALUES (v_scope, k_month[i])
                ON CONFLICT DO NOTHING;
            END IF;
            PERFORM 1 FROM gateway_budget_scope_counters c
            WHERE c.scope = v_scope AND c.month = k_month[i] FOR UPDATE;
        END IF;
    END LOOP;

    -- The leases give up the holds (summed per lease first), counter rows already locked.
    IF h_lease IS NOT NULL THEN
        FOR v_rel IN
            WITH agg AS (
                SELECT h.lease_id, SUM(h.amount)::bigint AS amount
                FROM unnest(h_lease, h_amount) AS h(lease_id, amount) GROUP BY h.lease_id
            ), old AS (
                SELECT l.id, l.amount_millicents AS before
                FROM gateway_budget_leases l JOIN agg ON agg.lease_id = l.id
                WHERE l.released_at IS NULL FOR UPDATE OF l
            ), released AS (
                UPDATE gateway_budget_leases l
                SET amount_millicents = old.before - LEAST(old.before, agg.amount),
                    released_at = CASE WHEN l.holder LIKE 'request:%' THEN NOW() END,
                    release_reason = CASE WHEN l.holder LIKE 'request:%' THEN 'settled' END
                FROM old JOIN agg ON agg.lease_id = old.id
                WHERE l.id = old.id
                RETURNING l.scope, l.month, LEAST(old.before, agg.amount) AS amount
            )
            SELECT r.scope, r.month, SUM(r.amount)::bigint AS amount FROM released r GROUP BY r.scope, r.month
        LOOP
            FOR i IN 1 .. cardinality(k_scope) LOOP
                IF k_scope[i] = v_rel.scope AND k_month[i] = v_rel.month THEN
                    k_freed[i] := k_freed[i] + v_rel.amount;
                END IF;
            END LOOP;
        END LOOP;
    END IF;

    -- One update per counter row, in the same order.
    FOR i IN 1 .. cardinality(k_scope) LOOP
        CONTINUE WHEN k_spend[i] = 0 AND k_freed[i] = 0;
        v_scope := k_scope[i];
        IF v_scope LIKE 'org:%' THEN
            UPDATE gateway_budget_counters c
            SET spent_millicents = c.spent_millicents + CASE WHEN k_seeded[i] THEN 0 ELSE k_spend[i] END,
                reserved_millicents = GREATEST(0, c.reserved_millicents - k_freed[i]), updated_at = NOW()
            WHERE c.organization_id = split_part(v_scope, ':', 2)::uuid AND c.month = k_month[i]
            RETURNING c.spent_millicents INTO v_after;
            IF k_spend[i] > 0 AND v_after IS NOT NULL THEN
                settled_org := split_part(v_scope, ':', 2);
                settled_month := k_month[i];
                before_millicents := v_after - k_spend[i];
                after_millicents := v_after;
                -- NULL budget: none set (DECIMAL(10,2) dollars are whole millicents).
                SELECT o.name, (o.monthly_budget * 100000)::bigint, COALESCE(o.budget_alert_threshold, 80)
                INTO org_name, budget_millicents, alert_pct
                FROM organizations o WHERE o.id = settled_org::uuid;
                RETURN NEXT;
            END IF;
        ELSE
            UPDATE gateway_budget_scope_counters c
            SET spent_millicents = c.spent_millicents + k_spend[i],
                reserved_millicents = GREATEST(0, c.reserved_millicents - k_freed[i]), updated_at = NOW()
            WHERE c.scope = v_scope AND c.month = k_month[i];
        END IF;
    END LOOP;
END;
$fn$;

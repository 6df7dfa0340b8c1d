"""The SQL behind the reports, built from a validated query (never from caller text).

Two sources answer a cost report: the hourly rollup ``llm_usage_hourly`` (UTC and every time
zone with whole-hour offsets) and ``llm_usage`` itself (other zones). Both produce the same
columns, so the caller cannot tell them apart except by speed. Group keys and the organization
filter are fixed here: the organization is always a bound parameter taken from the caller's
identity, so no parameter a caller passes can widen the scope.

Time keys are cut in the report's zone with ``AT TIME ZONE``, which does not depend on the
session's ``TimeZone``. GROUP BY and ORDER BY use column positions, so the expressions (which
repeat the zone parameter) are written once.
"""

from __future__ import annotations

from collections.abc import Sequence

# Metric columns in output order; the SQL yields them after the group key columns.
METRICS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_millicents",
)
SAVINGS_METRICS: tuple[str, ...] = (*METRICS, "counterfactual_cost_millicents", "unpriced_requests")

_ROLLUP_SUMS = """COALESCE(sum(requests), 0)::bigint, COALESCE(sum(prompt_tokens), 0)::bigint,
    COALESCE(sum(completion_tokens), 0)::bigint, COALESCE(sum(cache_creation_tokens), 0)::bigint,
    COALESCE(sum(cache_read_tokens), 0)::bigint, COALESCE(sum(cost_millicents), 0)::bigint"""

_RAW_SUMS = """count(*)::bigint, COALESCE(sum(prompt_tokens), 0)::bigint, COALESCE(sum(completion_tokens), 0)::bigint,
    COALESCE(sum(cache_creation_tokens), 0)::bigint, COALESCE(sum(cache_read_tokens), 0)::bigint,
    COALESCE(sum(estimated_cost_millicents), 0)::bigint"""


def _key_sql(key: str, ts: str, rollup: bool) -> str:
    local = f"({ts} AT TIME ZONE %(tz)s)"
    if key == "day":
        return f"to_char({local}, 'YYYY-MM-DD')"
    if key == "week":  # ISO weeks, named by their Monday
        return f"to_char(date_trunc('week', {local}), 'YYYY-MM-DD')"
    if key == "month":
        return f"to_char({local}, 'YYYY-MM')"
    if key == "user":
        return "user_id::text"
    if key in ("provider", "tier"):
        return f"NULLIF({key}, '')" if rollup else key
    if key in ("model", "request_type"):
        return key
    raise ValueError(f"unknown group key {key!r}")  # unreachable: params.py validated it


def _grouped(select_keys: Sequence[str], sums: str, source: str, where: str) -> str:
    cols = [*select_keys, sums]
    sql = f"SELECT {', '.join(cols)}\nFROM {source}\nWHERE {where}"
    if select_keys:
        positions = ", ".join(str(i + 1) for i in range(len(select_keys)))
        sql += f"\nGROUP BY {positions}\nORDER BY {positions}"
    return sql


def cost_sql(group_by: Sequence[str], *, rollup: bool, by_user: bool) -> str:
    """The cost report: one row per group, keys first, then :data:`METRICS`.

    Parameters: ``org``, ``start``, ``end`` (UTC instants, end excluded), ``tz``, and ``user``
    when ``by_user``.
    """
    ts = "hour" if rollup else "created_at"
    where = f"organization_id = %(org)s AND {ts} >= %(start)s AND {ts} < %(end)s"
    if by_user:
        where += " AND user_id = %(user)s"
    keys = [_key_sql(k, ts, rollup) for k in group_by]
    if rollup:
        return _grouped(keys, _ROLLUP_SUMS, "llm_usage_hourly", where)
    return _grouped(keys, _RAW_SUMS, "llm_usage", where)


# Per AUTO row: the recorded tokens priced at the complex-tier model of the row's provider,
# with the same rules as pricing.cost_millicents (long-context prices when the whole prompt
# exceeds the model's long-context threshold and it has that tier; one half-up rounding per request). A row
# whose provider has no priced complex model keeps its recorded cost (no saving claimed).
_SAVINGS_SOURCE = """(
    SELECT u.*, (p.provider IS NULL) AS unpriced,
        CASE WHEN p.provider IS NULL THEN COALESCE(u.estimated_cost_millicents, 0)::bigint
        ELSE (
            CASE WHEN p.has_long AND u.prompt_tokens::bigint + COALESCE(u.cache_creation_tokens, 0)
                                      + COALESCE(u.cache_read_tokens, 0) > p.threshold
            THEN u.prompt_tokens::bigint * p.l_in + u.completion_tokens::bigint * p.l_out
                 + COALESCE(u.cache_creation_tokens, 0)::bigint * p.l_cw
                 + COALESCE(u.cache_read_tokens, 0)::bigint * p.l_cr
            ELSE u.prompt_tokens::bigint * p.b_in + u.completion_tokens::bigint * p.b_out
                 + COALESCE(u.cache_creation_tokens, 0)::bigint * p.b_cw
                 + COALESCE(u.cache_read_tokens, 0)::bigint * p.b_cr
            END + 500000) / 1000000
        END AS counterfactual
    FROM llm_usage u
    LEFT JOIN unnest(%(p_provider)s::text[], %(p_long)s::bool[], %(p_threshold)s::bigint[],
                     %(p_b_in)s::bigint[], %(p_b_out)s::bigint[], %(p_b_cw)s::bigint[], %(p_b_cr)s::bigint[],
                     %(p_l_in)s::bigint[], %(p_l_out)s::bigint[], %(p_l_cw)s::bigint[], %(p_l_cr)s::bigint[])
        AS p(provider, has_long, threshold, b_in, b_out, b_cw, b_cr, l_in, l_out, l_cw, l_cr)
        ON p.provider = u.provider
    WHERE u.auto_routed AND u.organization_id = %(org)s
      AND u.created_at >= %(start)s AND u.created_at < %(end)s{user}
) AS auto_rows"""

_SAVINGS_SUMS = f"""{_RAW_SUMS}, COALESCE(sum(counterfactual), 0)::bigint, count(*) FILTER (WHERE unpriced)::bigint"""


def savings_sql(group_by: Sequence[str], *, by_user: bool) -> str:
    """The AUTO savings report: keys, then :data:`SAVINGS_METRICS`.

    Parameters: those of :func:`cost_sql` plus the price arrays built by
    :func:`gateway.reports.savings.price_params`.
    """
    source = _SAVINGS_SOURCE.format(user=" AND u.user_id = %(user)s" if by_user else "")
    keys = [_key_sql(k, "created_at", False) for k in group_by]
    return _grouped(keys, _SAVINGS_SUMS, source, "TRUE")

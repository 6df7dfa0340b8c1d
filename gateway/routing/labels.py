"""Training labels from an organization's own traffic (``gateway router train|eval --from-db``).

What becomes a :class:`router.records.Labeled` (weak = the simple/medium side, strong = complex):

- **Ratings** (``POST /v1/feedback``) on AUTO requests whose prompt was kept
  (``routing_decisions.query_text``): a weak-side answer rated -1 says the strong model was
  needed (weak 0, strong 1); rated +1 it was not (1, 1); a strong-side answer rated -1 says
  the strong model did not help either (0, 0). A strong-side +1 says nothing about the weak
  model and a 0 says nothing at all: both are skipped.
- **Preferences** (``preferred_request_id``) between requests of different tiers: the
  preferred side scores 1, the other 0 (same tier: skipped, it does not inform routing).
- **Arena votes and judgments** (``arena_battles.vote`` / ``.judgments``, the arena's columns;
  read only where they exist): each pair of the battle's models that includes the winner
  becomes a pairwise-preference record (format 3 of the data README), ``tie`` and
  ``both_bad`` every pair; the stronger side of a pair is the one with the higher catalog tier.
- **Cascade decisions** (``reasoning`` starting ``cascade:``): an escalation is a prompt the
  drafts could not settle (0, 1); an accepted draft one they could (1, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from router.records import Labeled, RecordError, to_labeled

TIER_RANK = {"simple": 0, "medium": 1, "complex": 2, "basic": 0, "standard": 1, "premium": 2}

_RATINGS_SQL = """
SELECT f.request_id::text, f.rating, d.tier, d.query_text
FROM gateway_router_feedback f JOIN routing_decisions d ON d.request_id = f.request_id
WHERE f.organization_id = %s::uuid AND f.rating IS NOT NULL AND d.query_text IS NOT NULL
"""
_PREFERENCES_SQL = """
SELECT f.request_id::text, COALESCE(d.tier, u.tier), COALESCE(pd.tier, pu.tier), COALESCE(d.query_text, pd.query_text)
FROM gateway_router_feedback f
LEFT JOIN routing_decisions d ON d.request_id = f.request_id
LEFT JOIN llm_usage u ON u.request_id = f.request_id
LEFT JOIN routing_decisions pd ON pd.request_id = f.preferred_request_id
LEFT JOIN llm_usage pu ON pu.request_id = f.preferred_request_id
WHERE f.organization_id = %s::uuid AND f.preferred_request_id IS NOT NULL
"""
_CASCADE_SQL = """
SELECT request_id::text, reasoning, query_text FROM routing_decisions
WHERE organization_id = %s::uuid AND reasoning LIKE 'cascade:%%' AND query_text IS NOT NULL
"""


def rating_label(request_id: str, rating: int, tier: str, text: str) -> Labeled | None:
    """A rating as a labeled example (see the module docstring), or None when it says nothing."""
    strong_side = TIER_RANK.get(tier, 0) >= 2
    if rating == 0 or (strong_side and rating > 0):
        return None
    if strong_side:
        return Labeled(request_id, "feedback", text, 0.0, 0.0, "rating")
    return Labeled(request_id, "feedback", text, 1.0 if rating > 0 else 0.0, 1.0, "rating")


def preference_label(request_id: str, tier: str | None, preferred_tier: str | None, text: str | None) -> Labeled | None:
    """A preference between two tiers as a labeled example (None: same or unknown tiers, no prompt)."""
    if text is None or tier is None or preferred_tier is None:
        return None
    rank, preferred_rank = TIER_RANK.get(tier), TIER_RANK.get(preferred_tier)
    if rank is None or preferred_rank is None or rank == preferred_rank:
        return None
    strong_won = preferred_rank > rank
    return Labeled(request_id, "preference", text, 0.0 if strong_won else 1.0, 1.0 if strong_won else 0.0, "preference")


def cascade_label(request_id: str, reasoning: str, text: str) -> Labeled:
    """A cascade decision: escalated = the drafts needed the strong model."""
    escalated = "escalating" in reasoning
    return Labeled(request_id, "cascade", text, 0.0 if escalated else 1.0, 1.0, "cascade")


_ARENA_COLUMNS_SQL = """
SELECT count(*) FROM information_schema.columns
WHERE table_name = 'arena_battles' AND column_name IN ('vote', 'judgments', 'organization_id')
"""
_ARENA_SQL = """
SELECT id, prompt, models, vote, judgments FROM arena_battles
WHERE organization_id = %s::uuid AND deleted_at IS NULL AND (vote IS NOT NULL OR judgments <> '[]'::jsonb)
"""
_OUTCOMES = {"tie": "tie", "both_bad": "both_bad"}


def arena_preferences(battle_id: str, prompt: str, models: Any, verdicts: list[Any]) -> list[dict[str, Any]]:
    """Pairwise-preference records (data README format 3) from one battle's vote and judgments."""
    ids = [str(m.get("id")) for m in models or [] if isinstance(m, dict) and m.get("id")]
    out: list[dict[str, Any]] = []
    for n, verdict in enumerate(v for v in verdicts if isinstance(v, dict)):
        outcome = str(verdict.get("outcome") or verdict.get("winner") or "")
        winner = verdict.get("winnerModelId")
        source = "arena-judge" if verdict.get("judgeModel") else "arena-vote"
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if outcome in _OUTCOMES:
                    result = _OUTCOMES[outcome]
                elif winner in (a, b):
                    result = "model_a" if winner == a else "model_b"
                else:
                    continue  # neither of this pair won: the verdict does not compare them
                out.append(
                    {
                        "id": f"{battle_id}-{n}-{a}-{b}",
                        "source": source,
                        "prompt": prompt,
                        "model_a": a,
                        "model_b": b,
                        "winner": result,
                    }
                )
    return out


def arena_labels(rows: list[tuple[Any, ...]], rank: Callable[[str], int | None]) -> tuple[list[Labeled], int]:
    """Labeled examples from arena battle rows, and how many preference records were skipped."""
    items: list[Labeled] = []
    skipped = 0
    for battle_id, prompt, models, vote, judgments in rows:
        verdicts = ([vote] if vote else []) + list(judgments or [])
        for record in arena_preferences(str(battle_id), str(prompt), models, verdicts):
            try:
                item = to_labeled(record, rank=rank)
            except RecordError:
                item = None
            if item is None:
                skipped += 1
            else:
                items.append(item)
    return items, skipped


def labels_from_rows(
    ratings: list[tuple[Any, ...]], prefs: list[tuple[Any, ...]], cascades: list[tuple[Any, ...]]
) -> tuple[list[Labeled], dict[str, Any]]:
    """The rows of the three queries as labeled examples, and how many of each were used."""
    got_ratings = [r for r in (rating_label(a, int(b), str(c), str(d)) for a, b, c, d in ratings) if r is not None]
    got_prefs = [p for p in (preference_label(*row) for row in prefs) if p is not None]
    got_cascades = [cascade_label(a, str(b), str(c)) for a, b, c in cascades]
    items = got_ratings + got_prefs + got_cascades
    account = {
        "ratings": {"used": len(got_ratings), "skipped": len(ratings) - len(got_ratings)},
        "preferences": {"used": len(got_prefs), "skipped": len(prefs) - len(got_prefs)},
        "cascade": {"used": len(got_cascades), "skipped": 0},
    }
    return items, account


def _with_arena(
    found: tuple[list[Labeled], dict[str, Any]], arena_rows: list[tuple[Any, ...]], rank: Callable[[str], int | None]
) -> tuple[list[Labeled], dict[str, Any]]:
    items, account = found
    arena, skipped = arena_labels(arena_rows, rank)
    account["arena"] = {"used": len(arena), "skipped": skipped}
    return items + arena, account


def read_db_labels(
    url: str, org: str, rank: Callable[[str], int | None] | None = None
) -> tuple[list[Labeled], dict[str, Any]]:
    """Every label of an organization (slug, name or id) and how many of each kind.

    ``rank`` orders arena models (default: the built-in catalog's tiers).
    """
    from gateway.cli.router_config import _org_id

    with psycopg.connect(url) as conn:
        org_id = _org_id(conn, org)
        rows = [conn.execute(sql, (org_id,)).fetchall() for sql in (_RATINGS_SQL, _PREFERENCES_SQL, _CASCADE_SQL)]
        has_arena = (conn.execute(_ARENA_COLUMNS_SQL).fetchone() or (0,))[0] == 3
        arena_rows = conn.execute(_ARENA_SQL, (org_id,)).fetchall() if has_arena else []
    return _with_arena(labels_from_rows(*rows), arena_rows, rank or builtin_rank())


async def read_labels(
    pool: AsyncConnectionPool[Any], organization_id: str, rank: Callable[[str], int | None]
) -> tuple[list[Labeled], dict[str, Any]]:
    """The same for the service (``GET /v1/router/summary``), arena models ranked by its catalog."""
    async with pool.connection() as conn:
        rows = [
            await (await conn.execute(sql, (organization_id,))).fetchall()
            for sql in (_RATINGS_SQL, _PREFERENCES_SQL, _CASCADE_SQL)
        ]
        has_arena = ((await (await conn.execute(_ARENA_COLUMNS_SQL)).fetchone()) or (0,))[0] == 3
        arena_rows = await (await conn.execute(_ARENA_SQL, (organization_id,))).fetchall() if has_arena else []
    return _with_arena(labels_from_rows(*rows), arena_rows, rank)


def builtin_rank() -> Callable[[str], int | None]:
    """Models ranked by the built-in catalog's tier (basic 0, standard 1, premium 2)."""
    from gateway.catalog import Catalog

    catalog = Catalog.with_overrides([])

    def rank(model_id: str) -> int | None:
        entry = catalog.get(model_id)
        return None if entry is None else TIER_RANK.get(entry.tier)

    return rank

"""``model_rankings``: one row per (user, model), moved in the vote's or judgment's transaction.

What moves what (the issue's split, kept literal so the columns stay comparable):

* a user's vote: ``wins``/``losses``/``ties``/``total_battles``, ``user_wins``/``user_losses``
  and the Elo rating (K = 32, every pair of the battle scored against the ratings before
  the vote; ``tie`` and ``both_bad`` are draws);
* an AI judgment: ``ai_wins``/``ai_losses`` only. A judge can be asked again and again, so
  letting it move the user's own rating would let the machine outvote the person.

The organization's table is a Bradley-Terry fit over all its members' votes
(``bradley_terry.fit``); a user's table shows their own Elo next to a rating pulled toward
the organization's, with weight ``n / (n + PRIOR_VOTES)`` on their own, n being their votes
on that model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.arena.battles import organization_votes
from gateway.arena.bradley_terry import Strength, fit, shrink
from gateway.arena.elo import START, update
from gateway.arena.outcomes import Verdict

# How many votes a user needs before their own rating counts as much as the organization's.
PRIOR_VOTES = 10.0

_UPSERT = """
INSERT INTO model_rankings (user_id, user_uuid, model_id, wins, losses, ties, total_battles, user_wins, user_losses,
    ai_wins, ai_losses, elo_rating)
VALUES (%(user)s, %(user)s::text::uuid, %(model)s, %(wins)s, %(losses)s, %(ties)s, %(total)s, %(uwins)s, %(ulosses)s,
    %(awins)s, %(alosses)s, %(elo)s)
ON CONFLICT (user_id, model_id) DO UPDATE SET
    wins = model_rankings.wins + EXCLUDED.wins,
    losses = model_rankings.losses + EXCLUDED.losses,
    ties = model_rankings.ties + EXCLUDED.ties,
    total_battles = model_rankings.total_battles + EXCLUDED.total_battles,
    user_wins = model_rankings.user_wins + EXCLUDED.user_wins,
    user_losses = model_rankings.user_losses + EXCLUDED.user_losses,
    ai_wins = model_rankings.ai_wins + EXCLUDED.ai_wins,
    ai_losses = model_rankings.ai_losses + EXCLUDED.ai_losses,
    elo_rating = EXCLUDED.elo_rating,
    updated_at = NOW()
"""


class RankingRow(msgspec.Struct, kw_only=True):
    """One model in a ranking table (per user or per organization)."""

    model: str
    rating: float  # Elo scale; the user table's is pulled toward the organization's
    rank: int = 0
    lower: float | None = None  # bootstrap interval (organization table)
    upper: float | None = None
    elo_rating: float | None = None  # the user's own online Elo (user table)
    org_rating: float | None = None
    votes: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    user_wins: int = 0
    user_losses: int = 0
    ai_wins: int = 0
    ai_losses: int = 0


class RankingTable(msgspec.Struct, kw_only=True):
    object: str = "arena.rankings"
    scope: str
    method: str
    votes: int
    data: list[RankingRow]


async def _locked_ratings(conn: Any, user_id: str, models: Sequence[str]) -> dict[str, float]:
    rows = await (
        await conn.execute(
            "SELECT model_id, elo_rating FROM model_rankings WHERE user_id = %s AND model_id = ANY(%s) "
            "ORDER BY model_id FOR UPDATE",
            (user_id, list(models)),
        )
    ).fetchall()
    return {str(r[0]): float(r[1]) for r in rows}


async def apply_vote(conn: Any, user_id: str, verdict: Verdict) -> None:
    """Move the user's counters and Elo for a vote (inside the vote's transaction)."""
    before = await _locked_ratings(conn, user_id, verdict.models)
    after = update(before, verdict)
    for m in sorted(set(verdict.models)):
        won = verdict.winner == m
        lost = verdict.winner is not None and not won
        draw = verdict.winner is None
        await conn.execute(
            _UPSERT,
            {
                "user": user_id,
                "model": m,
                "wins": int(won),
                "losses": int(lost),
                "ties": int(draw),
                "total": 1,
                "uwins": int(won),
                "ulosses": int(lost),
                "awins": 0,
                "alosses": 0,
                "elo": round(after[m], 2),
            },
        )


async def apply_judgment(conn: Any, user_id: str, verdict: Verdict) -> None:
    """Move the AI counters for a judgment; a draw moves nothing but creates the rows."""
    before = await _locked_ratings(conn, user_id, verdict.models)
    for m in sorted(set(verdict.models)):
        won = verdict.winner == m
        lost = verdict.winner is not None and not won
        await conn.execute(
            _UPSERT,
            {
                "user": user_id,
                "model": m,
                "wins": 0,
                "losses": 0,
                "ties": 0,
                "total": 0,
                "uwins": 0,
                "ulosses": 0,
                "awins": int(won),
                "alosses": int(lost),
                "elo": before.get(m, START),
            },
        )


def verdict_of(models: list[dict[str, Any]], vote: dict[str, Any]) -> Verdict:
    """A stored vote as a ``Verdict``."""
    return Verdict(tuple(str(m["id"]) for m in models), vote.get("winnerModelId"), str(vote.get("outcome", "win")))


def org_table(verdicts: Sequence[Verdict], strengths: Sequence[Strength]) -> RankingTable:
    rows = [
        RankingRow(
            model=s.model, rating=round(s.rating, 1), lower=round(s.lower, 1), upper=round(s.upper, 1), votes=s.votes
        )
        for s in strengths
    ]
    wins: dict[str, list[int]] = {r.model: [0, 0, 0] for r in rows}
    for v in verdicts:
        for m in set(v.models):
            if m in wins:
                wins[m][0 if v.winner == m else (2 if v.winner is None else 1)] += 1
    for i, r in enumerate(rows):
        r.rank = i + 1
        r.wins, r.losses, r.ties = wins[r.model]
    return RankingTable(
        scope="org", method="bradley-terry (choix), 95% bootstrap intervals", votes=len(verdicts), data=rows
    )


async def organization_strengths(conn: Any, organization_id: str) -> tuple[list[Verdict], list[Strength]]:
    """Every vote of the organization and the fit over them (the fit runs in a worker thread)."""
    verdicts = [verdict_of(models, vote) for models, vote in await organization_votes(conn, organization_id)]
    # 200 bootstrap refits take a while on a big organization: keep the event loop serving.
    return verdicts, await asyncio.to_thread(fit, verdicts)


async def user_table(conn: Any, user_id: str, org: Sequence[Strength]) -> RankingTable:
    rows = await (
        await conn.execute(
            "SELECT model_id, elo_rating, wins, losses, ties, total_battles, user_wins, user_losses, "
            "ai_wins, ai_losses FROM model_rankings WHERE user_id = %s",
            (user_id,),
        )
    ).fetchall()
    org_rating = {s.model: s.rating for s in org}
    out: list[RankingRow] = []
    for r in rows:
        model, elo, n = str(r[0]), float(r[1]), int(r[5])
        base = org_rating.get(model, START)
        out.append(
            RankingRow(
                model=model,
                rating=round(shrink(elo, base, n, PRIOR_VOTES), 1),
                elo_rating=elo,
                org_rating=round(base, 1) if model in org_rating else None,
                votes=n,
                wins=int(r[2]),
                losses=int(r[3]),
                ties=int(r[4]),
                user_wins=int(r[6]),
                user_losses=int(r[7]),
                ai_wins=int(r[8]),
                ai_losses=int(r[9]),
            )
        )
    out.sort(key=lambda x: (-x.rating, x.model))
    for i, row in enumerate(out):
        row.rank = i + 1
    counted = await (
        await conn.execute("SELECT count(*) FROM arena_battles WHERE user_id = %s AND vote IS NOT NULL", (user_id,))
    ).fetchone()
    votes = int(counted[0]) if counted else 0
    return RankingTable(
        scope="me",
        method=f"elo (K=32), shrunk toward the organization's fit by n/(n+{PRIOR_VOTES:g})",
        votes=votes,
        data=out,
    )

"""Votes and AI judgments on a battle, each stored with its ranking change in one transaction.

Only the slots that answered take part in a verdict: a model whose call failed was not
compared, so it neither wins nor loses. A vote needs at least two answers; a battle whose
every model failed (``failed``) takes no vote. Each battle takes one vote, by its owner;
judgments may be asked again (by other judges, say), each one costing its own usage row.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.arena import battles, rankings
from gateway.arena.battles import Battle
from gateway.arena.lanes import admit_all, prepare, provider_body, run_whole
from gateway.arena.outcomes import Verdict, resolve_winner
from gateway.arena.run import usable_models
from gateway.auth.principal import Principal
from gateway.config import ModelEntry
from gateway.errors import Conflict, Forbidden, InvalidRequest, NotFound, UpstreamError

if TYPE_CHECKING:
    from gateway.services import Services

_TIER_ORDER = {"premium": 0, "standard": 1, "basic": 2}

JUDGE_SYSTEM = (
    "You are an impartial judge comparing answers that AI assistants gave to the same conversation. "
    "Judge which answer best serves the user: correctness first, then helpfulness and clarity. The order "
    "in which the answers are shown means nothing, and a longer answer is not a better one. Reply with only "
    'a JSON object: {"winner": "<the number of the best answer>" or "tie" or "both_bad", "reason": '
    '"<one or two sentences>"}.'
)


class JudgeReply(msgspec.Struct):
    winner: str | int
    reason: str = ""


def not_found(battle_id: str) -> NotFound:
    return NotFound(f"no battle '{battle_id}' of yours exists", code="battle_not_found", param="id")


def _answered(b: Battle) -> list[int]:
    """Slots whose model answered."""
    return [i for i, r in enumerate(b.responses) if "error" not in r and r.get("content")]


def _check_decidable(b: Battle) -> list[int]:
    if b.status in ("pending", "running"):
        raise Conflict(
            "this battle is still running; vote or judge once every model has answered", code="battle_running"
        )
    if b.status == "failed":
        raise Conflict("every model in this battle failed, so there is nothing to compare", code="battle_failed")
    answered = _answered(b)
    if len(answered) < 2:
        raise Conflict("only one model in this battle answered, so there is nothing to compare", code="too_few_answers")
    return answered


async def vote(services: Services, principal: Principal, battle_id: str, winner: int | str) -> Battle:
    """Record the owner's vote and move their ranking, in one transaction."""
    async with services.pool.connection() as conn, conn.transaction():
        b = await battles.get(conn, battle_id, principal.user_id, lock=True)
        if b is None:
            raise not_found(battle_id)
        if b.vote is not None:
            raise Conflict("you already voted on this battle; a battle takes one vote", code="already_voted")
        answered = _check_decidable(b)
        try:
            model, outcome, slot = resolve_winner(str(winner), b.model_ids)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="winner", code="invalid_winner") from None
        if slot is not None and slot not in answered:
            raise InvalidRequest(
                f"slot {slot} failed to answer, so it cannot win", param="winner", code="invalid_winner"
            )
        record = {
            "winner": slot if slot is not None else outcome,
            "winnerModelId": model,
            "outcome": outcome,
            "votedAt": datetime.now(UTC).isoformat(),
        }
        await battles.set_vote(conn, b.id, record)
        verdict = Verdict(tuple(b.model_ids[i] for i in answered), model, outcome)
        await rankings.apply_vote(conn, principal.user_id, verdict)
        stored = await battles.get(conn, b.id, principal.user_id)
    assert stored is not None
    return stored


def default_judge(services: Services, principal: Principal, exclude: tuple[str, ...]) -> ModelEntry:
    """The strongest model the caller may use, preferably one that is not in the battle."""
    usable = sorted(
        usable_models(services, principal),
        key=lambda m: (m.id in exclude, _TIER_ORDER.get(m.tier, 9), m.complexity is None, m.id),
    )
    if not usable:
        raise Forbidden("you may use no model that could judge this battle", code="no_judge_model")
    return usable[0]


def judge_prompt(b: Battle, order: list[int]) -> str:
    turns = "\n".join(f"[{t['role']}] {t['content']}" for t in (b.messages or [{"role": "user", "content": b.prompt}]))
    answers = "\n\n".join(f"Answer {k + 1}:\n{b.responses[slot].get('content', '')}" for k, slot in enumerate(order))
    return f"The conversation:\n{turns}\n\n{answers}\n\nWhich answer is best?"


def parse_reply(text: str, n: int) -> tuple[int | None, str, str]:
    """The judge's reply as ``(answer index or None, outcome, reason)``; raises ``ValueError``."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the judge's reply")
    reply = msgspec.json.decode(text[start : end + 1].encode(), type=JudgeReply)
    pick = str(reply.winner).strip().lower().removeprefix("answer").strip()
    if pick in ("tie", "both_bad"):
        return None, pick, reply.reason
    if pick.isdigit() and 1 <= int(pick) <= n:
        return int(pick) - 1, "win", reply.reason
    raise ValueError(f"the judge named {reply.winner!r}, not an answer between 1 and {n}, 'tie' or 'both_bad'")


async def judge(services: Services, principal: Principal, battle_id: str, judge_model: str | None) -> Battle:
    """Ask a model for a verdict (answers shuffled), store it and move the AI counters."""
    async with services.pool.connection() as conn:
        b = await battles.get(conn, battle_id, principal.user_id)
    if b is None:
        raise not_found(battle_id)
    answered = _check_decidable(b)
    if judge_model is not None:
        found = services.catalog.get(judge_model)
        if found is None:
            raise NotFound(
                f"model '{judge_model}' does not exist; GET /v1/models lists the models you may use",
                code="model_not_found",
                param="judge_model",
            )
        entry = found
    else:
        entry = default_judge(services, principal, b.model_ids)
    order = list(answered)
    # Shuffled so that neither slot is always shown first (judges favour a position).
    random.Random().shuffle(order)
    provider = services.providers.get(entry.provider)
    dialect = provider.dialect if provider is not None else "openai"
    turns = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": judge_prompt(b, order)}]
    body = provider_body(entry, dialect, turns, {"temperature": 0.0, "maxTokens": 1024}, stream=False)
    lane = await prepare(services, principal, entry, body, request_type="arena")  # 403 for a forbidden judge
    await admit_all(services, [lane])
    out = await run_whole(services, lane)
    try:
        index, outcome, reason = parse_reply(out.content, len(order))
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(
            f"the judge '{entry.id}' gave no verdict the gateway could read ({exc}); its call is still billed",
            code="judge_unreadable",
        ) from None
    slot = order[index] if index is not None else None
    winner_model = b.model_ids[slot] if slot is not None else None
    judgment: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "judgeModel": entry.id,
        "winner": slot if slot is not None else outcome,
        "winnerModelId": winner_model,
        "outcome": outcome,
        "reason": reason,
        "order": order,
        "requestId": lane.call.request_id,
        "costMillicents": out.cost_millicents,
        "createdAt": datetime.now(UTC).isoformat(),
    }
    async with services.pool.connection() as conn, conn.transaction():
        locked = await battles.get(conn, battle_id, principal.user_id, lock=True)
        if locked is None:  # deleted while the judge was thinking
            raise not_found(battle_id)
        await battles.add_judgment(conn, battle_id, judgment)
        verdict = Verdict(tuple(b.model_ids[i] for i in answered), winner_model, outcome)
        await rankings.apply_judgment(conn, principal.user_id, verdict)
        stored = await battles.get(conn, battle_id, principal.user_id)
    assert stored is not None
    return stored

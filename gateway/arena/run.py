"""Starting and running a battle: pick and check the models, admit them all, answer in parallel.

Order of work, so that a refusal costs nothing: models are checked (exist, allowed, 2 to 4,
no repeats) and every lane is admitted before the battle row is written and before any
model is sent. Then the row goes ``pending`` -> ``running``, the lanes answer concurrently,
and the row ends ``completed`` (some answer came back; failed slots keep their error) or
``failed`` (none did).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.arena import battles
from gateway.arena.api import MAX_MODELS, MIN_MODELS, CreateBattle, conversation_of, settings_of
from gateway.arena.battles import Battle
from gateway.arena.lanes import Lane, Outcome, admit_all, prepare, provider_body, run_streamed
from gateway.auth.principal import Principal
from gateway.config import ModelEntry
from gateway.errors import Forbidden, GatewayError, InvalidRequest, NotFound
from gateway.pipeline.admission import release_all
from gateway.policy.request import CallOutcome
from gateway.policy.tiers import is_allowed

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)

# (slot, kind, payload): kind is "delta" ({"content"|"thinking": text}) or "done" (the slot's result).
SlotEvent = Callable[[int, str, dict[str, Any]], None]


def usable_models(services: Services, principal: Principal) -> list[ModelEntry]:
    """Catalog models the caller may use whose provider is configured."""
    return [m for m in services.catalog.models() if m.provider in services.providers and is_allowed(principal, m)]


def fair_pair(services: Services, principal: Principal, rng: random.Random) -> list[ModelEntry]:
    """Two models of one tier, from different providers where the caller has that choice.

    Fair: neither side is a bigger model by construction. Current models (the ones AUTO
    uses, which carry a complexity class) are preferred over older ones.
    """
    usable = usable_models(services, principal)
    current = [m for m in usable if m.complexity is not None]
    pool = current if len(current) >= 2 else usable
    by_tier: dict[str, list[ModelEntry]] = {}
    for m in pool:
        by_tier.setdefault(m.tier, []).append(m)
    cross = [ms for ms in by_tier.values() if len({m.provider for m in ms}) >= 2]
    same = [ms for ms in by_tier.values() if len(ms) >= 2]
    if cross:
        group = rng.choice(cross)
        first = rng.choice(group)
        second = rng.choice([m for m in group if m.provider != first.provider])
        return [first, second]
    if same:
        return rng.sample(rng.choice(same), 2)
    if len(pool) >= 2:
        return rng.sample(pool, 2)
    raise Forbidden(
        "a battle needs two models you may use, and your tiers allow fewer; name 'models' or ask an admin",
        code="not_enough_models",
    )


def explicit_models(services: Services, principal: Principal, ids: list[str]) -> list[ModelEntry]:
    if not MIN_MODELS <= len(ids) <= MAX_MODELS:
        raise InvalidRequest(
            f"a battle takes {MIN_MODELS} to {MAX_MODELS} models; got {len(ids)}", param="models", code="model_count"
        )
    if len(set(ids)) != len(ids):
        raise InvalidRequest("each model may appear once in a battle", param="models", code="duplicate_model")
    out: list[ModelEntry] = []
    for model_id in ids:
        entry = services.catalog.get(model_id)
        if entry is None:
            raise NotFound(
                f"model '{model_id}' does not exist; GET /v1/models lists the models you may use",
                code="model_not_found",
                param="models",
            )
        out.append(entry)
    return out


async def start(services: Services, principal: Principal, req: CreateBattle) -> tuple[Battle, list[Lane]]:
    """Check, admit and store a new battle (``pending``); nothing has been sent yet."""
    turns = conversation_of(req)
    settings = settings_of(req.settings)
    entries = (
        explicit_models(services, principal, req.models)
        if req.models is not None
        else fair_pair(services, principal, random.Random())
    )
    lanes: list[Lane] = []
    for entry in entries:
        provider = services.providers.get(entry.provider)
        dialect = provider.dialect if provider is not None else "openai"
        body = provider_body(entry, dialect, turns, settings, stream=True)
        # resolve_model inside prepare applies the tier policy: 403 names the model.
        lanes.append(await prepare(services, principal, entry, body, request_type="arena"))
    await admit_all(services, lanes)
    battle = Battle(
        id=str(uuid.uuid4()),
        prompt=turns[-1]["content"],
        models=[{"id": e.id, "displayName": e.id, "provider": e.provider} for e in entries],
        responses=[{"id": lane.call.request_id, "modelId": lane.call.entry.id} for lane in lanes],
        settings=settings,
        status="pending",
        pinned=False,
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        messages=turns,
    )
    try:
        async with services.pool.connection() as conn, conn.transaction():
            await battles.insert(conn, battle)
    except BaseException:
        # Admitted but never sent (the database refused the row): give the holds back; a
        # strict reservation, if any, expires on its own since the database is the problem.
        for lane in lanes:
            release_all(lane.call.holds, CallOutcome("error"))
        raise
    return battle, lanes


def response_record(lane: Lane, out: Outcome) -> dict[str, Any]:
    """One entry of the seed's ``responses`` array."""
    record: dict[str, Any] = {
        "id": lane.call.request_id,
        "modelId": lane.call.entry.id,
        "content": out.content,
        "metrics": out.metrics(lane.call.request_id),
        "startedAt": out.started_at,
        "completedAt": out.completed_at,
        "durationMs": out.duration_ms,
    }
    if out.thinking:
        record["thinking"] = out.thinking
    if out.error is not None:
        record["error"] = {"message": out.error.message, "type": out.error.openai_type, "code": out.error.code}
    return record


async def run(services: Services, battle: Battle, lanes: list[Lane], on_event: SlotEvent) -> Battle:
    """Run every lane at once, report deltas and results per slot, store the outcome."""
    async with services.pool.connection() as conn:
        await battles.set_status(conn, battle.id, "running")
    battle.status = "running"

    async def one(slot: int, lane: Lane) -> dict[str, Any]:
        try:
            out = await run_streamed(services, lane, lambda kind, text: on_event(slot, "delta", {kind: text}))
        except Exception:
            # Safe: run_streamed settles its call whatever happens; an unexpected failure of one
            # slot (a bug, logged here) must not lose the other slots' answers or the battle row.
            log.exception("arena slot %d of battle %s failed unexpectedly", slot, battle.id)
            out = Outcome(error=GatewayError("internal error in this slot; the gateway logged it"))
        record = response_record(lane, out)
        on_event(slot, "done", record)
        return record

    records = list(await asyncio.gather(*(one(i, lane) for i, lane in enumerate(lanes))))
    status = "completed" if any("error" not in r for r in records) else "failed"
    async with services.pool.connection() as conn:
        await battles.finish(conn, battle.id, records, status)
        stored = await battles.get(conn, battle.id, battle.user_id)
    assert stored is not None
    return stored

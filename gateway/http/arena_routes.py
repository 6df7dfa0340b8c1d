"""The Model Arena over HTTP (OpenAI-style errors, like every non-``/v1/messages`` path).

* ``POST /v1/arena/battles``: start a battle; streamed (``stream: true``: one SSE stream, events
  ``battle.created``, ``slot.delta``, ``slot.done``, ``battle.completed``, then ``[DONE]``) or not.
* ``GET /v1/arena/battles`` (own, paged, ``status``/``pinned`` filters), ``GET|PATCH|DELETE
  /v1/arena/battles/{id}``.
* ``POST /v1/arena/battles/{id}/vote`` and ``/judge``; ``GET /v1/arena/rankings?scope=me|org``.

A streamed battle runs to the end even if its client leaves: the answers are paid for
either way, and the caller can read them with ``GET`` later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter
from litestar.response import Stream

from gateway.arena import battles, rankings
from gateway.arena import run as battle_run
from gateway.arena.api import (
    CreateBattle,
    JudgeIn,
    PatchIn,
    VoteIn,
    battle_view,
    decode,
    slot_record,
)
from gateway.arena.battles import STATUSES, Battle
from gateway.arena.verdicts import judge, not_found, vote
from gateway.errors import InvalidRequest
from gateway.http.errors import as_gateway_error
from gateway.http.openapi_docs import error_responses
from gateway.pipeline.resolve import authenticate
from gateway.services import Services

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()
BattleId = Annotated[str, PathParameter(description="a battle id (yours)")]
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


def _json(obj: Any, status: int = 200) -> Response[bytes]:
    return Response(_enc.encode(obj), status_code=status, media_type="application/json")


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _enc.encode({"type": kind, **payload}) + b"\n\n"


@post(
    "/v1/arena/battles",
    status_code=201,
    summary="Start a battle: 2-4 models answer the same prompt at once",
    responses=error_responses(400, 401, 402, 403, 404, 429, 503),
)
async def create_battle(request: Request[Any, Any, Any]) -> Response[bytes] | Stream:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    req: CreateBattle = decode(await request.body(), CreateBattle, "battle")
    battle, lanes = await battle_run.start(services, principal, req)
    if not req.stream:
        done = await battle_run.run(services, battle, lanes, lambda slot, kind, payload: None)
        return _json(battle_view(done), 201)

    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    hidden = battle.blind

    def on_event(slot: int, kind: str, payload: dict[str, Any]) -> None:
        if kind == "delta":
            queue.put_nowait(_event("slot.delta", {"slot": slot, "delta": payload}))
        else:
            queue.put_nowait(_event("slot.done", slot_record(slot, payload, hidden=hidden)))

    async def whole_battle() -> None:
        try:
            done = await battle_run.run(services, battle, lanes, on_event)
            queue.put_nowait(_event("battle.completed", {"battle": battle_view(done)}))
        except Exception as exc:
            # Safe: every slot settled its own call; what failed is storing the outcome (the
            # database), which the client hears about as a last error event.
            gw = as_gateway_error(exc)
            log.exception("arena battle %s could not be finished", battle.id)
            queue.put_nowait(
                _event("error", {"error": {"message": gw.message, "type": gw.openai_type, "code": gw.code}})
            )
        finally:
            queue.put_nowait(None)

    task = asyncio.get_running_loop().create_task(whole_battle(), name=f"arena-battle-{battle.id}")
    # Held by the services (cancelled at shutdown) so that it outlives a client that leaves.
    services.background.append(task)
    task.add_done_callback(lambda t: services.background.remove(t) if t in services.background else None)

    async def frames() -> AsyncIterator[bytes]:
        yield _event("battle.created", {"battle": battle_view(battle)})
        while (frame := await queue.get()) is not None:
            yield frame
        yield b"data: [DONE]\n\n"

    return Stream(
        frames(),
        media_type="text/event-stream",
        headers={**_SSE_HEADERS, "x-arena-battle-id": battle.id},
        status_code=200,
    )


def _bool_param(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidRequest(f"{name} must be true or false", param=name)


def _int_param(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not lo <= int(value) <= hi:
        raise InvalidRequest(f"{name} must be a whole number from {lo} to {hi}", param=name)
    return int(value)


@get(
    "/v1/arena/battles",
    summary="Your battles, newest first (paged; filter by status and pinned)",
    responses=error_responses(400, 401),
)
async def list_battles(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    q = request.query_params
    status = q.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", param="status")
    limit = _int_param(q.get("limit"), "limit", 20, 1, 100)
    offset = _int_param(q.get("offset"), "offset", 0, 0, 1_000_000)
    async with services.pool.connection() as conn:
        rows, total = await battles.list_own(
            conn,
            principal.user_id,
            status=status,
            pinned=_bool_param(q.get("pinned"), "pinned"),
            limit=limit,
            offset=offset,
        )
    return _json(
        {
            "object": "list",
            "data": [battle_view(b) for b in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < total,
        }
    )


async def _own(services: Services, battle_id: str, user_id: str) -> Battle:
    async with services.pool.connection() as conn:
        b = await battles.get(conn, battle_id, user_id)
    if b is None:
        raise not_found(battle_id)
    return b


@get("/v1/arena/battles/{battle_id:str}", summary="One of your battles", responses=error_responses(401, 404))
async def get_battle(request: Request[Any, Any, Any], battle_id: BattleId) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    return _json(battle_view(await _own(services, battle_id, principal.user_id)))


@patch(
    "/v1/arena/battles/{battle_id:str}",
    status_code=200,
    summary="Pin or unpin one of your battles",
    responses=error_responses(400, 401, 404),
)
async def patch_battle(request: Request[Any, Any, Any], battle_id: BattleId) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    change: PatchIn = decode(await request.body(), PatchIn, 'battle change (send {"pinned": true|false})')
    async with services.pool.connection() as conn:
        if not await battles.set_pinned(conn, battle_id, principal.user_id, change.pinned):
            raise not_found(battle_id)
    return _json(battle_view(await _own(services, battle_id, principal.user_id)))


@delete(
    "/v1/arena/battles/{battle_id:str}",
    status_code=200,
    summary="Delete one of your battles (soft)",
    responses=error_responses(401, 404),
)
async def delete_battle(request: Request[Any, Any, Any], battle_id: BattleId) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        if not await battles.soft_delete(conn, battle_id, principal.user_id):
            raise not_found(battle_id)
    return _json({"id": battle_id, "object": "arena.battle.deleted", "deleted": True})


@post(
    "/v1/arena/battles/{battle_id:str}/vote",
    status_code=200,
    summary="Vote: a slot, a model id, tie or both_bad",
    responses=error_responses(400, 401, 404, 409),
)
async def vote_battle(request: Request[Any, Any, Any], battle_id: BattleId) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    body: VoteIn = decode(await request.body(), VoteIn, 'vote (send {"winner": slot | model id | "tie" | "both_bad"})')
    return _json(battle_view(await vote(services, principal, battle_id, body.winner)))


@post(
    "/v1/arena/battles/{battle_id:str}/judge",
    status_code=200,
    summary="Ask a model to judge the battle",
    responses=error_responses(400, 401, 402, 403, 404, 409, 429, 502, 503),
)
async def judge_battle(request: Request[Any, Any, Any], battle_id: BattleId) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    body: JudgeIn = decode(await request.body(), JudgeIn, "judgment request")
    return _json(battle_view(await judge(services, principal, battle_id, body.judge_model)))


@get(
    "/v1/arena/rankings",
    summary="Model rankings: yours (scope=me) or your organization's (scope=org)",
    responses=error_responses(400, 401),
)
async def get_rankings(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    scope = request.query_params.get("scope", "me")
    if scope not in ("me", "org"):
        raise InvalidRequest("scope must be 'me' or 'org'", param="scope")
    async with services.pool.connection() as conn:
        verdicts, strengths = await rankings.organization_strengths(conn, principal.organization_id)
        if scope == "org":
            table = rankings.org_table(verdicts, strengths)
        else:
            table = await rankings.user_table(conn, principal.user_id, strengths)
    return _json(table)


ROUTES: list[HTTPRouteHandler] = [
    create_battle,
    list_battles,
    get_battle,
    patch_battle,
    delete_battle,
    vote_battle,
    judge_battle,
    get_rankings,
]

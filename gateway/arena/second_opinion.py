"""Second opinions: another model reviews an answer, and replies like a chat completion.

The conversation comes in the body (``messages``, ending with the assistant answer to
review) or by reference (``request_id`` of one of the caller's own earlier requests that was
stored in a conversation). The reviewer is the one named, or one picked from another
provider (same tier first), else another tier of the same provider, so that the second
opinion is not the same model agreeing with itself. The review then runs through the
ordinary pipeline as an OpenAI chat request with ``X-Request-Type: second-opinion``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.arena.api import ChatTurn
from gateway.arena.run import usable_models
from gateway.auth.principal import Principal
from gateway.config import ModelEntry
from gateway.errors import Forbidden, InvalidRequest, NotFound

if TYPE_CHECKING:
    from gateway.services import Services

_TIER_RANK = {"basic": 0, "standard": 1, "premium": 2}

REVIEW_SYSTEM = (
    "You are giving a second opinion on an answer another AI assistant gave. Check it for factual errors, "
    "faulty reasoning, omissions and risks. Say plainly what is right, what is wrong and what you would add "
    "or change, with the correct information where the answer is wrong. End with one line: "
    "'Verdict: agree', 'Verdict: partly agree' or 'Verdict: disagree'."
)


class SecondOpinionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    messages: list[ChatTurn] | None = None
    request_id: str | None = None
    model: str | None = None
    original_model: str | None = None
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


def pick_reviewer(services: Services, principal: Principal, original: ModelEntry | None) -> ModelEntry:
    """Another provider's model of the same tier, else the nearest tier; else another tier of the same provider."""
    usable = [m for m in usable_models(services, principal) if original is None or m.id != original.id]
    if not usable:
        raise Forbidden("you may use no other model to give a second opinion", code="no_reviewer_model")
    if original is None:
        return sorted(usable, key=lambda m: (-_TIER_RANK.get(m.tier, 0), m.complexity is None, m.id))[0]
    want = _TIER_RANK.get(original.tier, 1)

    def key(m: ModelEntry) -> tuple[int, int, int, bool, str]:
        other_provider = m.provider != original.provider
        distance = abs(_TIER_RANK.get(m.tier, 1) - want)
        # Same provider: a different tier is the point, so distance 0 ranks last there.
        return (0 if other_provider else 1, distance if other_provider else (9 if distance == 0 else distance),
                -_TIER_RANK.get(m.tier, 0), m.complexity is None, m.id)  # fmt: skip

    return sorted(usable, key=key)[0]


async def referenced_conversation(
    services: Services, principal: Principal, request_id: str
) -> tuple[list[dict[str, str]], str]:
    """The turns up to the answer of the caller's request ``request_id``, and the model that answered."""
    async with services.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT u.model, u.conversation_id, c.messages FROM llm_usage u "
                "LEFT JOIN conversations c ON c.id = u.conversation_id "
                "WHERE u.request_id = %s::text::uuid AND u.user_id = %s",
                (request_id, principal.user_id),
            )
        ).fetchone()
    if row is None:
        raise NotFound(
            f"no request '{request_id}' of yours is recorded (a request's usage lands a moment after it ends)",
            code="request_not_found",
            param="request_id",
        )
    model, conversation_id, messages = str(row[0]), row[1], list(row[2] or [])
    if conversation_id is None:
        raise InvalidRequest(
            "that request was not stored in a conversation (send it with X-Conversation-Id), so its answer is not "
            "known here; send the conversation as 'messages' instead",
            code="request_not_stored",
            param="request_id",
        )
    answer_id = f"{request_id}-a"
    for i, m in enumerate(messages):
        if m.get("id") == answer_id:
            turns = [{"role": str(t["role"]), "content": str(t.get("content") or "")} for t in messages[: i + 1]]
            return turns, model
    raise InvalidRequest("that request's answer is not in its conversation", code="request_not_stored")


def review_prompt(turns: list[dict[str, str]], answered_by: str | None) -> str:
    before, answer = turns[:-1], turns[-1]["content"]
    shown = "\n".join(f"[{t['role']}] {t['content']}" for t in before)
    who = f" (from {answered_by})" if answered_by else ""
    return f"The conversation so far:\n{shown}\n\nThe answer to review{who}:\n{answer}"


async def build_request(services: Services, principal: Principal, req: SecondOpinionIn) -> dict[str, Any]:
    """The OpenAI chat body the pipeline serves as the second opinion."""
    if (req.messages is None) == (req.request_id is None):
        raise InvalidRequest(
            "send either 'messages' (ending with the answer to review) or 'request_id'", param="messages"
        )
    if req.messages is not None:
        turns = [{"role": t.role, "content": t.content} for t in req.messages]
        original_id = req.original_model
    else:
        assert req.request_id is not None
        turns, original_id = await referenced_conversation(services, principal, req.request_id)
    if len(turns) < 2 or turns[-1]["role"] != "assistant" or not turns[-1]["content"].strip():
        raise InvalidRequest(
            "the conversation must end with the assistant answer to review, after at least one user turn",
            param="messages",
        )
    original = services.catalog.get(original_id) if original_id else None
    reviewer = req.model or pick_reviewer(services, principal, original).id
    body: dict[str, Any] = {
        "model": reviewer,
        "messages": [
            {"role": "system", "content": REVIEW_SYSTEM},
            {"role": "user", "content": review_prompt(turns, original_id)},
        ],
        "stream": req.stream,
    }
    if req.stream:
        body["stream_options"] = {"include_usage": True}
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    return body

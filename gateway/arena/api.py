"""The arena's request bodies (typed, unknown fields refused) and the battle as callers see it.

Blind battles name slots, not models, until their owner votes: the view then drops every
model id, provider and display name (and the judges' picks by model), keeping only slot
numbers and labels ("Model A", "Model B"...).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gateway.arena.battles import Battle
from gateway.errors import InvalidRequest

MIN_MODELS, MAX_MODELS = 2, 4


class ChatTurn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "user", "assistant"]
    content: str


class BattleSettingsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``settings`` of a new battle (snake_case here; stored with the seed's camelCase keys)."""

    temperature: float | None = None
    max_tokens: int | None = None
    blind: bool = False
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    extended_thinking: bool = False
    thinking_budget_tokens: int | None = None
    web_search: bool = False


class CreateBattle(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    messages: list[ChatTurn] | None = None
    prompt: str | None = None
    models: list[str] | None = None
    settings: BattleSettingsIn = msgspec.field(default_factory=BattleSettingsIn)
    stream: bool = False


class VoteIn(msgspec.Struct, forbid_unknown_fields=True):
    winner: int | str


class JudgeIn(msgspec.Struct, forbid_unknown_fields=True):
    judge_model: str | None = None


class PatchIn(msgspec.Struct, forbid_unknown_fields=True):
    pinned: bool


def decode(body: bytes, typ: type[Any], what: str) -> Any:
    """``body`` as ``typ``, or a 400 that says which field is wrong."""
    if not body.strip():
        body = b"{}"
    try:
        return msgspec.json.decode(body, type=typ)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid {what}: the body is not valid JSON ({exc})") from None


def conversation_of(req: CreateBattle) -> list[dict[str, str]]:
    """The turns every model answers, checked: one of ``messages`` or ``prompt``, ending with the user."""
    if (req.messages is None) == (req.prompt is None):
        raise InvalidRequest("send either 'messages' (a conversation) or 'prompt' (one user turn)", param="messages")
    turns = (
        [{"role": "user", "content": req.prompt or ""}]
        if req.messages is None
        else [{"role": t.role, "content": t.content} for t in req.messages]
    )
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise InvalidRequest("the conversation must end with a non-empty user turn", param="messages")
    return turns


def settings_of(s: BattleSettingsIn) -> dict[str, Any]:
    """The seed's ``settings`` object ({webSearchEnabled, extendedThinkingEnabled, ...}) plus maxTokens."""
    if s.web_search:
        raise InvalidRequest("web search is not available in this gateway's arena", param="settings.web_search")
    if s.temperature is not None and not 0.0 <= s.temperature <= 2.0:
        raise InvalidRequest("settings.temperature must be between 0 and 2", param="settings.temperature")
    if s.max_tokens is not None and not 1 <= s.max_tokens <= 64_000:
        raise InvalidRequest("settings.max_tokens must be between 1 and 64000", param="settings.max_tokens")
    budget = s.thinking_budget_tokens
    if budget is not None and budget < 1024:
        raise InvalidRequest(
            "settings.thinking_budget_tokens must be at least 1024", param="settings.thinking_budget_tokens"
        )
    thinking = s.extended_thinking or budget is not None
    return {
        "webSearchEnabled": False,
        "extendedThinkingEnabled": thinking,
        "thinkingBudgetTokens": (budget or 2048) if thinking else None,
        "temperature": s.temperature,
        "reasoningEffort": s.reasoning_effort,
        "blindMode": s.blind,
        "maxTokens": s.max_tokens,
    }


def slot_label(slot: int) -> str:
    return f"Model {chr(ord('A') + slot)}"


def _hidden(b: Battle) -> bool:
    return b.blind and b.vote is None


def models_view(b: Battle) -> list[dict[str, Any]]:
    if _hidden(b):
        return [{"slot": i, "label": slot_label(i)} for i in range(len(b.models))]
    return [{"slot": i, "label": slot_label(i), **m} for i, m in enumerate(b.models)]


def response_view(b: Battle, slot: int, r: dict[str, Any]) -> dict[str, Any]:
    return slot_record(slot, r, hidden=_hidden(b))


def slot_record(slot: int, r: dict[str, Any], *, hidden: bool) -> dict[str, Any]:
    """A stored response for the caller; hidden ones lose the model id and the provider's words."""
    out = {"slot": slot, "label": slot_label(slot), **r}
    if hidden:
        out.pop("modelId", None)
        error = out.get("error")
        if isinstance(error, dict):
            # The provider's own message can name it; the code is enough until the vote.
            out["error"] = {**error, "message": "this model failed; the details are shown after your vote"}
    return out


def judgment_view(b: Battle, j: dict[str, Any]) -> dict[str, Any]:
    if not _hidden(b):
        return j
    return {k: v for k, v in j.items() if k not in ("winnerModelId", "judgeSawModels")}


def battle_view(b: Battle) -> dict[str, Any]:
    """The battle as its owner sees it (blind ones without model names until the vote)."""
    return {
        "id": b.id,
        "object": "arena.battle",
        "status": b.status,
        "pinned": b.pinned,
        "prompt": b.prompt,
        "messages": b.messages,
        "models": models_view(b),
        "responses": [response_view(b, i, r) for i, r in enumerate(b.responses)],
        "settings": b.settings,
        "vote": b.vote,
        "judgments": [judgment_view(b, j) for j in b.judgments],
        "created_at": b.created_at.isoformat() if b.created_at else None,
        "updated_at": b.updated_at.isoformat() if b.updated_at else None,
    }

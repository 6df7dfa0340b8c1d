"""The request fields one dialect has and the other spells differently (or lacks).

Applied after the main request translation (``gateway.translate.requests``), on the raw
body, so a field neither side types stays out of the hot path's typed structs.

OpenAI -> Anthropic:
    reasoning_effort      -> thinking {type: enabled, budget_tokens} (see ``EFFORT_BUDGETS``);
                             max_tokens grows by the budget so the answer keeps its room, and
                             temperature / top_p are dropped (Anthropic refuses them with thinking)
    response_format       -> json_schema: output_config.format (Anthropic structured output);
                             json_object: a system instruction to answer with one JSON object
    seed, logit_bias, presence/frequency_penalty, logprobs -> dropped (Anthropic has none)
Anthropic -> OpenAI:
    thinking.budget_tokens -> reasoning_effort (the nearest effort by budget)
    output_config.effort   -> reasoning_effort (xhigh and max become high)
    output_config.format   -> response_format json_schema
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import RequestValidationError

__all__ = ["EFFORT_BUDGETS", "anthropic_extras_to_openai", "effort_for_budget", "openai_extras_to_anthropic"]

# Thinking budget per OpenAI reasoning effort. Anthropic's minimum budget is 1024 tokens.
EFFORT_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768}
_EFFORTS = ("none", *EFFORT_BUDGETS)
_JSON_OBJECT_INSTRUCTION = "Answer with one JSON object and nothing else: no prose, no code fence."


def effort_for_budget(budget: int) -> str:
    """The OpenAI effort whose thinking budget is nearest ``budget`` (ties go to the lower)."""
    return min(("low", "medium", "high"), key=lambda e: abs(EFFORT_BUDGETS[e] - budget))


def _refuse(param: str, what: str) -> RequestValidationError:
    return RequestValidationError(f"{param}: {what}", param)


def openai_extras_to_anthropic(raw: dict[str, Any], out: dict[str, Any]) -> None:
    """Add to the Anthropic body ``out`` what ``raw`` (a Chat Completions body) asks beyond the basics.

    Raises:
        RequestValidationError: An unknown ``reasoning_effort`` or a malformed ``response_format``.
    """
    effort = raw.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise _refuse("reasoning_effort", f"expected one of {', '.join(_EFFORTS)}")
        if effort != "none":
            budget = EFFORT_BUDGETS[effort]
            out["thinking"] = {"type": "enabled", "budget_tokens": budget}
            out["max_tokens"] = int(out["max_tokens"]) + budget
            out.pop("temperature", None)
            out.pop("top_p", None)
    fmt = raw.get("response_format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise _refuse("response_format.json_schema.schema", "required: a JSON schema object")
        out["output_config"] = {
            **out.get("output_config", {}),
            "format": {"type": "json_schema", "schema": spec["schema"]},
        }
    elif kind == "json_object":
        system = out.setdefault("system", [])
        system.append({"type": "text", "text": _JSON_OBJECT_INSTRUCTION})
    elif kind != "text":
        raise _refuse("response_format.type", "expected text, json_object or json_schema")


def anthropic_extras_to_openai(raw: dict[str, Any], out: dict[str, Any]) -> None:
    """Add to the Chat Completions body ``out`` what ``raw`` (a Messages body) asks beyond the basics."""
    thinking = raw.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int):
            out["reasoning_effort"] = effort_for_budget(budget)
    config = raw.get("output_config")
    if not isinstance(config, dict):
        return
    effort = config.get("effort")
    if effort in ("low", "medium", "high"):
        out["reasoning_effort"] = effort
    elif effort in ("xhigh", "max"):
        out["reasoning_effort"] = "high"
    fmt = config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True},
        }

"""OpenAI Responses API requests as Chat Completions bodies.

The gateway serves ``POST /v1/responses`` by translating the request into the Chat
Completions dialect it already speaks to every provider (an Anthropic model then goes
through the existing Chat Completions -> Messages translation). The mapping:

    instructions                  -> a leading ``system`` message
    input: "text"                 -> one user message
    input items: message          -> a message (input_text / output_text / input_image parts)
                 function_call    -> an assistant ``tool_calls`` entry (consecutive calls merge)
                 function_call_output -> a ``tool`` message
                 reasoning        -> dropped (a Chat Completions model cannot read it back)
    tools [{type: function, ...}] -> ``tools`` [{type: function, function: {...}}]
    tool_choice {type: function, name} -> {type: function, function: {name}}
    max_output_tokens             -> max_completion_tokens
    reasoning.effort              -> reasoning_effort
    text.format                   -> response_format
    stream                        -> stream, with the usage chunk always asked for

Hosted tools (web search, file search, computer use…) run inside OpenAI's service and have
no Chat Completions equivalent: they are refused with a 400 naming the tool.
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import RequestValidationError

__all__ = ["response_items_from_input", "responses_to_chat"]

_PASSTHROUGH = ("temperature", "top_p", "parallel_tool_calls", "user", "metadata", "seed", "stop")


def _refuse(param: str, what: str) -> RequestValidationError:
    return RequestValidationError(f"{param}: {what}", param)


class _Unsupported(RequestValidationError):
    """Valid Responses API input that Chat Completions cannot carry (dropped when not strict)."""


def _unsupported(param: str, what: str) -> _Unsupported:
    return _Unsupported(f"{param}: {what}", param)


def response_items_from_input(value: Any) -> list[dict[str, Any]]:
    """``input`` as a list of items (a plain string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise _refuse("input", "must be a string or a list of input items")
    return list(value)


def _content_part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _refuse(where, "must be an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text"):
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise _refuse(f"{where}.image_url", "an input_image needs an image_url (https or data: URL)")
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        data = part.get("file_data")
        if not isinstance(data, str) or not data:
            raise _refuse(f"{where}.file_data", "only inline file_data (a data: URL) is supported, not file ids")
        return {"type": "file", "file": {"filename": part.get("filename") or "file", "file_data": data}}
    raise _refuse(f"{where}.type", f"content part '{kind}' is not supported")


def _message_content(content: Any, role: str, where: str, strict: bool) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _refuse(where, "must be a string or a list of content parts")
    parts = []
    for j, p in enumerate(content):
        try:
            parts.append(_content_part(p, f"{where}[{j}]"))
        except _Unsupported:
            if strict:
                raise
    if role != "user" or all(p["type"] == "text" for p in parts):
        # System, developer and assistant turns carry text only in Chat Completions.
        return "".join(p.get("text", "") for p in parts)
    return parts


def _tool_output(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))
    return "" if output is None else str(output)


def _chat_messages(items: list[dict[str, Any]], instructions: str | None, strict: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _refuse(f"{where}.role", "expected user, assistant, system or developer")
            content = _message_content(item.get("content", ""), role, f"{where}.content", strict)
            prev = messages[-1] if messages else None
            if role == "assistant" and prev is not None and prev["role"] == "assistant" and not prev.get("content"):
                prev["content"] = content
            else:
                messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call_id = item.get("call_id") or item.get("id")
            name = item.get("name")
            if not call_id or not name:
                raise _refuse(where, "a function_call item needs call_id and name")
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": item.get("arguments") or "{}"},
            }
            prev = messages[-1] if messages else None
            if prev is not None and prev["role"] == "assistant":
                prev.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise _refuse(f"{where}.call_id", "required for a function_call_output item")
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _tool_output(item.get("output"))}
            )
        elif kind == "reasoning":
            continue  # encrypted or summarized reasoning cannot be replayed through Chat Completions
        elif strict:
            raise _unsupported(f"{where}.type", f"input item '{kind}' cannot be translated for this model")
    return messages


def _chat_tools(tools: Any, dropped: list[str] | None) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _refuse("tools", "must be a list")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = str(tool.get("type") if isinstance(tool, dict) else tool)
            if dropped is None:
                raise _unsupported(
                    f"tools[{i}].type",
                    f"tool type '{kind}' cannot be translated for this model; only function tools can",
                )
            dropped.append(kind)
            continue
        if not tool.get("name"):
            raise _refuse(f"tools[{i}].name", "required for a function tool")
        fn: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        if tool.get("strict") is not None:
            fn["strict"] = tool["strict"]
        out.append({"type": "function", "function": fn})
    return out


def _chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _refuse("tool_choice", "expected auto, none, required or {type: function, name}")
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _unsupported("tool_choice", "only auto, none, required or {type: function, name} can be translated")


def _response_format(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, dict) or not isinstance(text.get("format"), dict):
        return None
    fmt = text["format"]
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise _refuse("text.format.schema", "required for a json_schema format")
        schema: dict[str, Any] = {"name": fmt.get("name") or "response", "schema": fmt["schema"]}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        if fmt.get("description"):
            schema["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": schema}
    raise _refuse("text.format.type", "expected text, json_object or json_schema")


def responses_to_chat(
    raw: dict[str, Any],
    history: list[dict[str, Any]] | None = None,
    *,
    strict: bool = True,
    dropped_tools: list[str] | None = None,
) -> dict[str, Any]:
    """A Chat Completions body for a Responses request.

    Args:
        raw: The decoded ``POST /v1/responses`` body.
        history: Items of the response chain named by ``previous_response_id`` (its input
            and output items, oldest first), placed before this request's ``input``.
        strict: Refuse what Chat Completions cannot carry (the body goes to a Chat
            Completions upstream). Not strict, it is left out instead: the view the gateway
            admits and routes a request by when the upstream takes the Responses body itself.
        dropped_tools: When given, tools other than functions (hosted ones such as
            ``web_search``, which run inside OpenAI's service) are left out and their types
            appended here, instead of being refused. Agents such as Codex always offer them.

    Raises:
        RequestValidationError: For what the translation cannot carry (hosted tools,
            file ids, unknown item types), naming the field.
    """
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise _refuse("model", "required: a model id from GET /v1/models, or 'auto'")
    instructions = raw.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _refuse("instructions", "must be a string")
    items = [*(history or []), *response_items_from_input(raw.get("input"))]
    messages = _chat_messages(items, instructions, strict)
    if not any(m["role"] in ("user", "tool") for m in messages):
        raise _refuse("input", "required: a text or at least one user message or function_call_output item")
    body: dict[str, Any] = {"model": model, "messages": messages}
    for name in _PASSTHROUGH:
        if raw.get(name) is not None:
            body[name] = raw[name]
    max_out = raw.get("max_output_tokens")
    if max_out is not None:
        if not isinstance(max_out, int) or isinstance(max_out, bool) or max_out < 1:
            raise _refuse("max_output_tokens", "must be a positive integer")
        body["max_completion_tokens"] = max_out
    if raw.get("tools"):
        tools = _chat_tools(raw["tools"], dropped_tools if strict else [])
        if tools:
            body["tools"] = tools
    if raw.get("tool_choice") is not None and body.get("tools"):
        try:
            body["tool_choice"] = _chat_tool_choice(raw["tool_choice"])
        except _Unsupported:
            if strict:
                raise
    reasoning = raw.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        body["reasoning_effort"] = reasoning["effort"]
    fmt = _response_format(raw.get("text"))
    if fmt is not None:
        body["response_format"] = fmt
    if raw.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body

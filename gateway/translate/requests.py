"""Request translation between the dialects, and the text views the router and the
conversation store need.

Translation reads the typed request and returns a fresh upstream body (a plain dict the
HTTP client encodes once). Fields one side cannot express are dropped when harmless
(``top_k``, ``seed``) and refused with a ``RequestValidationError`` naming the field when
dropping would change the answer silently (``n > 1``, server tools, audio input).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.dialects import RequestValidationError
from gateway.dialects.anthropic_types import ContentBlock, MessagesRequest
from gateway.dialects.openai_types import ChatCompletionRequest, ContentPart

__all__ = [
    "anthropic_request_to_openai",
    "conversation_text_for_router",
    "last_user_text",
    "openai_request_to_anthropic",
]

_ENCODER = msgspec.json.Encoder()
_OPENAI_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}
_ANTHROPIC_TOOL_CHOICE = {"auto": "auto", "required": "any", "none": "none"}


def _refuse(param: str, what: str) -> RequestValidationError:
    return RequestValidationError(f"{param}: {what}", param)


# --- OpenAI -> Anthropic ------------------------------------------------------------------


def _parts_text(content: str | list[ContentPart] | None) -> str:
    """The text of a content value (text and refusal parts; other parts ignored)."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.text or p.refusal or "" for p in content if p.type in ("text", "refusal"))


def _data_url(url: str) -> tuple[str, str] | None:
    """``data:<media>;base64,<data>`` -> (media, data); None when not a base64 data URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header.split(";", 1)[0], data


def _image_source(url: str, param: str) -> dict[str, Any]:
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    parsed = _data_url(url)
    if parsed is None:
        raise _refuse(param, "expected an https URL or a base64 data: URL")
    return {"type": "base64", "media_type": parsed[0], "data": parsed[1]}


def _user_blocks(content: str | list[ContentPart] | None, param: str) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if part.type == "text":
            blocks.append({"type": "text", "text": part.text or ""})
        elif part.type == "image_url" and part.image_url is not None:
            blocks.append({"type": "image", "source": _image_source(part.image_url.url, f"{where}.image_url.url")})
        elif part.type == "file" and part.file is not None and part.file.file_data:
            parsed = _data_url(part.file.file_data)
            if parsed is None or parsed[0] != "application/pdf":
                raise _refuse(f"{where}.file.file_data", "only base64 PDF data: URLs reach an Anthropic model")
            src = {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
            blocks.append({"type": "document", "source": src})
        else:
            raise _refuse(
                f"{where}.type",
                f"'{part.type}' parts cannot be sent to an Anthropic model; "
                "allowed: text, image_url (with an image_url object), file (with file_data)",
            )
    return blocks


def _tool_input(arguments: str, param: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        raise _refuse(param, "must be the text of a JSON object to reach an Anthropic model, e.g. '{}'") from None
    if not isinstance(value, dict):
        raise _refuse(param, "must be the text of a JSON object to reach an Anthropic model, e.g. '{}'")
    return value


def _append(messages: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Append a turn, merging it into the previous one of the same role (tool results
    must share the user turn that follows the tool calls)."""
    if messages and messages[-1]["role"] == role:
        prev = messages[-1]["content"]
        if isinstance(prev, str):
            prev = [{"type": "text", "text": prev}] if prev else []
        add = [{"type": "text", "text": content}] if isinstance(content, str) else content
        messages[-1]["content"] = prev + (add if content else [])
    else:
        messages.append({"role": role, "content": content})


def _anthropic_tools(req: ChatCompletionRequest, out: dict[str, Any]) -> None:
    if not req.tools:
        return
    tools = []
    for i, tool in enumerate(req.tools):
        if tool.type != "function" or tool.function is None:
            raise _refuse(f"tools[{i}].type", "only function tools can be sent to an Anthropic model")
        fn = tool.function
        entry: dict[str, Any] = {
            "name": fn.name,
            "input_schema": fn.parameters or {"type": "object", "properties": {}},
        }
        if fn.description:
            entry["description"] = fn.description
        tools.append(entry)
    out["tools"] = tools
    choice: dict[str, Any] | None = None
    tc = req.tool_choice
    if isinstance(tc, str):
        if tc not in _ANTHROPIC_TOOL_CHOICE:
            raise _refuse("tool_choice", "expected one of none, auto, required or a named function")
        choice = {"type": _ANTHROPIC_TOOL_CHOICE[tc]}
    elif tc is not None:
        if tc.function is None:
            raise _refuse("tool_choice.type", f"'{tc.type}' cannot be sent to an Anthropic model")
        choice = {"type": "tool", "name": tc.function.name}
    if req.parallel_tool_calls is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def openai_request_to_anthropic(
    req: ChatCompletionRequest,
    raw: dict[str, Any],
    *,
    upstream_model: str,
    default_max_tokens: int = 4096,
) -> dict[str, Any]:
    """Build an Anthropic Messages body from a Chat Completions request.

    System and developer messages become ``system`` text blocks (Anthropic has no
    mid-conversation system turn); tool messages become ``tool_result`` blocks merged into
    one user turn. ``temperature`` is clamped to Anthropic's 0-1 range; whitespace-only stop
    sequences, which Anthropic refuses, are dropped.

    Raises:
        RequestValidationError: For what an Anthropic model cannot do (``n > 1``, audio,
            non-function tools, tool-call arguments that are not a JSON object).
    """
    del raw  # every field Anthropic can use is typed
    if req.n is not None and req.n > 1:
        raise _refuse("n", "an Anthropic model generates one choice; omit n or set it to 1")
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i, msg in enumerate(req.messages):
        where = f"messages[{i}]"
        if msg.role in ("system", "developer"):
            if text := _parts_text(msg.content):
                system.append({"type": "text", "text": text})
        elif msg.role == "user":
            _append(messages, "user", _user_blocks(msg.content, f"{where}.content"))
        elif msg.role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": msg.tool_call_id,
                "content": _parts_text(msg.content),
            }
            _append(messages, "user", [result])
        else:
            blocks: list[dict[str, Any]] = []
            if text := _parts_text(msg.content) or (msg.refusal or ""):
                blocks.append({"type": "text", "text": text})
            for j, call in enumerate(msg.tool_calls or ()):
                args = _tool_input(call.function.arguments, f"{where}.tool_calls[{j}].function.arguments")
                blocks.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": args})
            if blocks:
                _append(messages, "assistant", blocks)
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": req.max_completion_tokens or req.max_tokens or default_max_tokens,
    }
    if system:
        out["system"] = system
    if req.temperature is not None:
        out["temperature"] = min(max(req.temperature, 0.0), 1.0)
    if req.top_p is not None:
        out["top_p"] = req.top_p
    stops = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
    if stops := [s for s in stops if s.strip()]:
        out["stop_sequences"] = stops
    if req.stream:
        out["stream"] = True
    _anthropic_tools(req, out)
    if req.user:
        out["metadata"] = {"user_id": req.user}
    return out


# --- Anthropic -> OpenAI ------------------------------------------------------------------


def _openai_image(block: ContentBlock, param: str) -> dict[str, Any]:
    src = block.source
    if src is not None and src.type == "base64" and src.data is not None:
        return {"type": "image_url", "image_url": {"url": f"data:{src.media_type};base64,{src.data}"}}
    if src is not None and src.type == "url" and src.url:
        return {"type": "image_url", "image_url": {"url": src.url}}
    raise _refuse(f"{param}.source.type", "only base64 and url images can be sent to an OpenAI model")


def _openai_document(block: ContentBlock, param: str) -> dict[str, Any]:
    src = block.source
    if src is not None and src.type == "text":
        return {"type": "text", "text": src.data or ""}
    if src is not None and src.type == "base64" and src.media_type == "application/pdf":
        data_url = f"data:application/pdf;base64,{src.data}"
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": data_url}}
    raise _refuse(f"{param}.source", "only base64 PDF or text documents can be sent to an OpenAI model")


def _tool_result(block: ContentBlock, param: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``tool`` message; images in the result go to ``parts`` (the user turn after it),
    since OpenAI tool messages carry text only."""
    content = block.content
    if isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            if inner.type == "image":
                parts.append(_openai_image(inner, f"{param}.content[{k}]"))
            elif inner.type == "text":
                texts.append(inner.text or "")
        text = "\n".join(texts)
    else:
        text = content or ""
    if block.is_error:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.tool_use_id or "", "content": text}


def _openai_messages(req: MessagesRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(req.system, str) and req.system:
        messages.append({"role": "system", "content": req.system})
    elif isinstance(req.system, list) and req.system:
        messages.append({"role": "system", "content": "\n\n".join(b.text for b in req.system)})
    for i, msg in enumerate(req.messages):
        if isinstance(msg.content, str):
            messages.append({"role": msg.role, "content": msg.content})
            continue
        parts: list[dict[str, Any]] = []
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for j, block in enumerate(msg.content):
            where, kind = f"messages[{i}].content[{j}]", block.type
            if kind == "text" and msg.role == "assistant":
                texts.append(block.text or "")
            elif kind == "text":
                parts.append({"type": "text", "text": block.text or ""})
            elif kind == "image" and msg.role == "user":
                parts.append(_openai_image(block, where))
            elif kind == "document" and msg.role == "user":
                parts.append(_openai_document(block, where))
            elif kind == "tool_result" and msg.role == "user":
                messages.append(_tool_result(block, where, parts))
            elif kind == "tool_use" and msg.role == "assistant":
                args = _ENCODER.encode(block.input if block.input is not None else {}).decode()
                calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": args}})
            elif kind not in ("thinking", "redacted_thinking"):
                raise _refuse(f"{where}.type", f"'{kind}' blocks cannot be sent to an OpenAI model")
        if msg.role == "assistant" and (texts or calls):
            turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
            if calls:
                turn["tool_calls"] = calls
            messages.append(turn)
        elif parts:
            only_text = len(parts) == 1 and parts[0]["type"] == "text"
            messages.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return messages


def _openai_tools(req: MessagesRequest, out: dict[str, Any]) -> None:
    if not req.tools:
        return
    tools = []
    for i, tool in enumerate(req.tools):
        if tool.type not in (None, "custom"):
            raise _refuse(
                f"tools[{i}].type",
                f"server tool '{tool.type}' cannot run on an OpenAI model; "
                "only custom tools (no type, or 'custom') can",
            )
        fn: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema or {"type": "object"}}
        if tool.description:
            fn["description"] = tool.description
        tools.append({"type": "function", "function": fn})
    out["tools"] = tools
    tc = req.tool_choice
    if tc is not None:
        if tc.type == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": tc.name}}
        else:
            out["tool_choice"] = _OPENAI_TOOL_CHOICE[tc.type]
        if tc.disable_parallel_tool_use:
            out["parallel_tool_calls"] = False


def anthropic_request_to_openai(req: MessagesRequest, raw: dict[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """Build a Chat Completions body from an Anthropic Messages request.

    ``system`` becomes a leading system message; ``tool_result`` blocks become ``tool``
    messages placed before the rest of their user turn; thinking blocks are dropped (an
    OpenAI model cannot read them); ``max_tokens`` becomes ``max_completion_tokens`` (the
    field every current OpenAI model accepts). A stream always asks for the usage chunk.

    Raises:
        RequestValidationError: For blocks or tools an OpenAI model cannot take.
    """
    del raw
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": _openai_messages(req),
        "max_completion_tokens": req.max_tokens,
    }
    if req.temperature is not None:
        out["temperature"] = req.temperature
    if req.top_p is not None:
        out["top_p"] = req.top_p
    if req.stop_sequences:
        out["stop"] = req.stop_sequences
    if req.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    _openai_tools(req, out)
    if req.metadata is not None and req.metadata.user_id:
        out["user"] = req.metadata.user_id
    return out


# --- text views ---------------------------------------------------------------------------


def _block_text(blocks: list[ContentBlock]) -> tuple[str, int]:
    texts, attachments = [], 0
    for b in blocks:
        if b.type == "text":
            texts.append(b.text or "")
        elif b.type in ("image", "document"):
            attachments += 1
        elif b.type == "tool_result":
            if isinstance(b.content, list):
                inner, n = _block_text(b.content)
                texts.append(inner)
                attachments += n
            elif b.content:
                texts.append(b.content)
    return "\n".join(t for t in texts if t), attachments


def conversation_text_for_router(
    req: ChatCompletionRequest | MessagesRequest,
) -> tuple[list[tuple[str, str]], int, int]:
    """The conversation as ``(role, text)`` turns, the number of tools offered, and the
    number of attachments (images, files, documents): what the router scores, with no
    binary payload."""
    turns: list[tuple[str, str]] = []
    attachments = 0
    if isinstance(req, ChatCompletionRequest):
        for msg in req.messages:
            if isinstance(msg.content, list):
                attachments += sum(1 for p in msg.content if p.type not in ("text", "refusal"))
            role = "system" if msg.role == "developer" else msg.role
            turns.append((role, _parts_text(msg.content)))
        return turns, len(req.tools or ()), attachments
    if isinstance(req.system, str):
        turns.append(("system", req.system))
    elif req.system:
        turns.append(("system", "\n\n".join(b.text for b in req.system)))
    for m in req.messages:
        if isinstance(m.content, str):
            turns.append((m.role, m.content))
        else:
            text, n = _block_text(m.content)
            attachments += n
            turns.append((m.role, text))
    return turns, len(req.tools or ()), attachments


def last_user_text(req: ChatCompletionRequest | MessagesRequest) -> str:
    """The text of the last user turn: what a conversation stores as the user's message."""
    if isinstance(req, ChatCompletionRequest):
        for msg in reversed(req.messages):
            if msg.role == "user":
                return _parts_text(msg.content)
        return ""
    for m in reversed(req.messages):
        if m.role == "user":
            if isinstance(m.content, str):
                return m.content
            return "\n".join(b.text or "" for b in m.content if b.type == "text")
    return ""

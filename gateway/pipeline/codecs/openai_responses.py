"""OpenAI Responses API (``/v1/responses``): the third client dialect.

Parsing builds the pipeline's view of the request through the lenient Chat Completions
translation (``gateway.translate.responses_request``): that view is what AUTO scores and
budgets reserve for, whatever the route. On the provider side this codec is the native
route to an upstream with its own ``/responses`` (OpenAI): the client's body goes up with
the model mapped, the chain already expanded by the door, and ``store: false`` (the gateway
keeps stored responses itself, so a chain may move between providers).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from gateway.config import Dialect
from gateway.dialects import decode_body
from gateway.dialects.openai_types import parse_openai_request
from gateway.dialects.sse import SSEEvent
from gateway.errors import GatewayError
from gateway.pipeline.codecs.base import ParsedRequest
from gateway.pipeline.codecs.openai_chat import OPENAI_CHAT
from gateway.translate.responses import ResponseSummary
from gateway.translate.responses_output import output_text
from gateway.translate.responses_request import responses_to_chat
from pricing import Usage, usage_from_openai

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
_FINAL = frozenset(("response.completed", "response.incomplete"))


class ResponsesObserver:
    """Learns text, usage and the end state of a native Responses event stream."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.done = False  # response.completed / incomplete / failed arrived
        self.usage_final = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return ""

    def observe(self, ev: SSEEvent) -> bool:
        try:
            obj = _dec.decode(ev.data)
        except msgspec.DecodeError:
            return True
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "response.output_text.delta":
            self._text.append(str(obj.get("delta") or ""))
        elif kind in _FINAL:
            response = obj.get("response") or {}
            self.usage = response.get("usage") or self.usage
            self.usage_final = self.usage is not None
            self.finish_reason = str(response.get("status") or "completed")
            self.done = True
        elif kind in ("response.failed", "error"):
            failure = (obj.get("response") or {}).get("error") if kind == "response.failed" else obj
            self.error = str((failure or {}).get("message") or "upstream error")
            self.done = self.done or kind == "response.failed"
        return True


class OpenAIResponsesCodec:
    """The Responses API dialect: client side always, provider side for native upstreams."""

    dialect: Dialect = "responses"
    endpoint = "responses"
    stream_end = b""  # the error event is itself terminal
    auto_provider = "openai"  # AUTO picks among OpenAI models for this dialect
    forwarded_headers = frozenset(("openai-beta",))

    def parse(self, body: bytes) -> ParsedRequest:
        raw = decode_body(body)
        chat = responses_to_chat(raw, strict=False)
        chat_raw, req = parse_openai_request(_enc.encode(chat))
        view = OPENAI_CHAT.parsed(chat_raw, req)
        return dataclasses.replace(view, raw=raw, include_usage=True, max_output_field="max_output_tokens")

    def error_body(self, exc: GatewayError) -> bytes:
        return OPENAI_CHAT.error_body(exc)

    def error_frame(self, exc: GatewayError) -> bytes:
        payload = {"type": "error", "code": exc.code, "message": exc.message, "param": exc.param}
        return b"event: error\ndata: " + _enc.encode(payload) + b"\n\n"

    def observer(self, include_usage: bool) -> ResponsesObserver:
        return ResponsesObserver()

    def frame(self, ev: SSEEvent) -> bytes:
        if ev.event:
            return b"event: " + ev.event.encode() + b"\ndata: " + ev.data + b"\n\n"
        return b"data: " + ev.data + b"\n\n"

    def observe_response(self, data: bytes) -> ResponseSummary:
        obj = _dec.decode(data)
        if not isinstance(obj, dict):
            raise TypeError("a response must be a JSON object")
        usage = obj.get("usage")
        return ResponseSummary(
            text=output_text(obj),
            thinking="",
            usage=usage if isinstance(usage, dict) else None,
            finish_reason=str(obj.get("status") or ""),
        )

    def usage(self, raw: dict[str, Any] | None) -> Usage | None:
        return usage_from_openai(raw) if raw else None

    def prepend_system(self, body: dict[str, Any], prefix: str) -> None:
        instructions = body.get("instructions")
        body["instructions"] = prefix + (
            "\n\n" + instructions if isinstance(instructions, str) and instructions else ""
        )

    def passthrough(self, parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
        body = dict(parsed.raw)
        body["model"] = upstream_model
        body.pop("previous_response_id", None)  # the door expanded the chain into input
        body["store"] = False
        items = body.get("input")
        if isinstance(items, list):
            # A reasoning item without its encrypted content points at upstream state that
            # store: false did not keep; the upstream would refuse the whole request.
            body["input"] = [i for i in items if not (i.get("type") == "reasoning" and not i.get("encrypted_content"))]
        return body


OPENAI_RESPONSES = OpenAIResponsesCodec()

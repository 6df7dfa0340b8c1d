"""Anthropic Messages (``/v1/messages``): parse, errors, observe, pass through."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.config import Dialect
from gateway.dialects.anthropic_types import MessagesRequest, parse_anthropic_request
from gateway.dialects.sse import SSEEvent, encode_anthropic_event
from gateway.errors import GatewayError
from gateway.pipeline.codecs.base import ParsedRequest
from gateway.translate.requests import conversation_text_for_router
from gateway.translate.responses import ResponseSummary, observe_anthropic_response
from gateway.translate.streams import AnthropicStreamObserver
from gateway.translate.system_prompt import prepend_system_anthropic
from pricing import Usage, usage_from_anthropic

_enc = msgspec.json.Encoder()


class AnthropicMessagesCodec:
    """The Anthropic Messages dialect, on the client side and the provider side."""

    dialect: Dialect = "anthropic"
    endpoint = "messages"
    stream_end = b""  # the error event is itself terminal
    # Not anthropic-version: the gateway speaks (and translates) one version of the API.
    forwarded_headers = frozenset(("anthropic-beta",))

    def parse(self, body: bytes) -> ParsedRequest:
        raw, req = parse_anthropic_request(body)
        return self.parsed(raw, req)

    @staticmethod
    def parsed(raw: dict[str, Any], req: MessagesRequest) -> ParsedRequest:
        """The pipeline's view of an already validated request."""
        turns, n_tools, n_attachments = conversation_text_for_router(req)
        return ParsedRequest(
            raw=raw,
            typed=req,
            model=req.model,
            stream=bool(req.stream),
            max_output_tokens=req.max_tokens,
            max_output_field="max_tokens",
            include_usage=False,
            turns=turns,
            n_tools=n_tools,
            n_attachments=n_attachments,
        )

    def error_body(self, exc: GatewayError) -> bytes:
        return _enc.encode({"type": "error", "error": {"type": exc.anthropic_type, "message": exc.message}})

    def error_frame(self, exc: GatewayError) -> bytes:
        return encode_anthropic_event(
            "error", {"type": "error", "error": {"type": exc.anthropic_type, "message": exc.message}}
        )

    def observer(self, include_usage: bool) -> AnthropicStreamObserver:
        return AnthropicStreamObserver()

    def frame(self, ev: SSEEvent) -> bytes:
        if ev.event:
            return b"event: " + ev.event.encode() + b"\ndata: " + ev.data + b"\n\n"
        return b"data: " + ev.data + b"\n\n"

    def observe_response(self, data: bytes) -> ResponseSummary:
        return observe_anthropic_response(data)

    def usage(self, raw: dict[str, Any] | None) -> Usage | None:
        # Stream observers already merge message_start's usage with message_delta's.
        return usage_from_anthropic(raw) if raw else None

    def prepend_system(self, body: dict[str, Any], prefix: str) -> None:
        prepend_system_anthropic(body, prefix)

    def passthrough(self, parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
        body = dict(parsed.raw)
        body["model"] = upstream_model
        return body


ANTHROPIC_MESSAGES = AnthropicMessagesCodec()

"""OpenAI Chat Completions (``/v1/chat/completions``): parse, errors, observe, pass through."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.config import Dialect
from gateway.dialects.openai_types import ChatCompletionRequest, parse_openai_request
from gateway.dialects.sse import OPENAI_DONE, SSEEvent, encode_openai_chunk
from gateway.errors import GatewayError
from gateway.pipeline.codecs.base import ParsedRequest
from gateway.translate.requests import conversation_text_for_router
from gateway.translate.responses import ResponseSummary, observe_openai_response
from gateway.translate.streams import OpenAIStreamObserver
from gateway.translate.system_prompt import prepend_system_openai
from pricing import Usage, usage_from_openai

_enc = msgspec.json.Encoder()


class OpenAIChatCodec:
    """The OpenAI Chat Completions dialect, on the client side and the provider side."""

    dialect: Dialect = "openai"
    endpoint = "chat"
    stream_end = OPENAI_DONE
    # Not openai-organization / openai-project: they pick the account the gateway's key bills.
    forwarded_headers = frozenset(("openai-beta",))

    def parse(self, body: bytes) -> ParsedRequest:
        raw, req = parse_openai_request(body)
        return self.parsed(raw, req)

    @staticmethod
    def parsed(raw: dict[str, Any], req: ChatCompletionRequest) -> ParsedRequest:
        """The pipeline's view of an already validated request."""
        turns, n_tools, n_attachments = conversation_text_for_router(req)
        return ParsedRequest(
            raw=raw,
            typed=req,
            model=req.model,
            stream=bool(req.stream),
            max_output_tokens=req.max_completion_tokens or req.max_tokens,
            max_output_field="max_completion_tokens" if req.max_completion_tokens else "max_tokens",
            include_usage=req.include_usage,
            turns=turns,
            n_tools=n_tools,
            n_attachments=n_attachments,
        )

    def error_body(self, exc: GatewayError) -> bytes:
        return _enc.encode(
            {"error": {"message": exc.message, "type": exc.openai_type, "param": exc.param, "code": exc.code}}
        )

    def error_frame(self, exc: GatewayError) -> bytes:
        return encode_openai_chunk({"error": {"message": exc.message, "type": exc.openai_type, "code": exc.code}})

    def observer(self, include_usage: bool) -> OpenAIStreamObserver:
        return OpenAIStreamObserver(include_usage)

    def frame(self, ev: SSEEvent) -> bytes:
        return b"data: " + ev.data + b"\n\n"

    def observe_response(self, data: bytes) -> ResponseSummary:
        return observe_openai_response(data)

    def usage(self, raw: dict[str, Any] | None) -> Usage | None:
        return usage_from_openai(raw) if raw else None

    def prepend_system(self, body: dict[str, Any], prefix: str) -> None:
        prepend_system_openai(body, prefix)

    def passthrough(self, parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
        body = dict(parsed.raw)
        body["model"] = upstream_model
        if parsed.stream:
            # Always ask for usage: a stream without it would be billed by estimate.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return body


OPENAI_CHAT = OpenAIChatCodec()

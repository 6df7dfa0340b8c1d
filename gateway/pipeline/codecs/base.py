"""What a client dialect is to the pipeline: the ``Codec`` seam, and the parsed request it yields.

A codec is one module per dialect (OpenAI Chat Completions, Anthropic Messages; the OpenAI
Responses API is the next one). It knows everything dialect-specific the pipeline needs on
either side of a call: parsing a client body, shaping errors and stream error frames,
observing a response or a stream in that dialect, reading its usage, and preparing a
same-dialect (pass-through) upstream body.

To add a dialect: write a module with a class satisfying ``Codec`` (and a stream observer
satisfying ``StreamObserver``), register an instance in ``gateway.pipeline.codecs.CODECS``,
and add the routes it can take in ``gateway.pipeline.route`` (its identity route comes free;
translated routes need a request, response and stream translator). Codecs are stateless and
built once at import; per-stream state lives in the observer objects they make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.config import Dialect
from gateway.dialects.sse import SSEEvent
from gateway.errors import GatewayError
from gateway.translate.requests import last_user_text
from gateway.translate.responses import ResponseSummary
from pricing import Usage


@dataclass(slots=True, frozen=True)
class ParsedRequest:
    """A client body, decoded once and validated, with what the pipeline reads from it.

    Attributes:
        raw: The decoded body (kept for same-dialect pass-through of fields not typed here).
        typed: The dialect's typed request Struct (what translators read).
        model: The model the client asked for (a catalog id or ``auto``).
        stream: Whether the client asked for a stream.
        max_output_tokens: The client's output bound, or None when it sent none.
        max_output_field: The body field that carried it (named in a refusal).
        include_usage: OpenAI clients: ``stream_options.include_usage`` (False elsewhere).
        turns: The conversation as ``(role, text)`` turns (what the router scores).
        n_tools: Tool definitions offered.
        n_attachments: Images, files and documents attached anywhere.
    """

    raw: dict[str, Any]
    typed: Any
    model: str
    stream: bool
    max_output_tokens: int | None
    max_output_field: str
    include_usage: bool
    turns: list[tuple[str, str]]
    n_tools: int
    n_attachments: int

    @property
    def prompt_chars(self) -> int:
        """Characters of conversation text (the basis of prompt token estimates)."""
        return sum(len(t) for _, t in self.turns)

    def last_user_text(self) -> str:
        """The last user turn's text (what a conversation stores); computed only when asked."""
        return last_user_text(self.typed)


class StreamObserver(Protocol):
    """Learns text, usage and the end state of a stream in one dialect, event by event.

    Translators (``gateway.translate.streams``) record the same attributes, so settlement
    reads any stream the same way.
    """

    usage: dict[str, Any] | None
    finish_reason: str | None
    error: str | None
    done: bool  # the dialect's end-of-stream marker arrived
    usage_final: bool  # the provider's closing usage arrived

    @property
    def text(self) -> str: ...

    @property
    def thinking(self) -> str: ...

    def observe(self, ev: SSEEvent) -> bool:
        """Record ``ev``; False when the event must be withheld from the client."""
        ...


class Codec(Protocol):
    """One client (and provider) dialect. Stateless; one instance per dialect."""

    dialect: Dialect
    endpoint: str  # metrics label: "chat" | "messages"
    stream_end: bytes  # what closes a stream after an error frame (b"" when nothing does)
    # Client headers this dialect's providers define that go upstream as sent (feature flags
    # such as ``anthropic-beta``); never credentials, account selectors or hop-by-hop headers.
    forwarded_headers: frozenset[str]

    def parse(self, body: bytes) -> ParsedRequest:
        """Decode and validate a client body (raises ``RequestValidationError``)."""
        ...

    def error_body(self, exc: GatewayError) -> bytes:
        """The error as this dialect's JSON error body."""
        ...

    def error_frame(self, exc: GatewayError) -> bytes:
        """The error as this dialect's terminal stream frame (the SDKs raise on it)."""
        ...

    def observer(self, include_usage: bool) -> StreamObserver:
        """A fresh observer for a same-dialect stream relayed untouched."""
        ...

    def frame(self, ev: SSEEvent) -> bytes:
        """Re-frame one upstream event for the client, unchanged."""
        ...

    def observe_response(self, data: bytes) -> ResponseSummary:
        """Text, usage and stop reason of a whole response in this dialect."""
        ...

    def usage(self, raw: dict[str, Any] | None) -> Usage | None:
        """This dialect's usage mapping as ``Usage`` (None when the provider sent none)."""
        ...

    def prepend_system(self, body: dict[str, Any], prefix: str) -> None:
        """Put the gateway's system prompt ahead of the client's, in place."""
        ...

    def passthrough(self, parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
        """The client's own body for a provider of this dialect (unknown fields kept)."""
        ...

"""The route: which client dialect meets which provider dialect, chosen once per model call.

A ``Route`` carries the two codecs and, when they differ, the three translators (request,
whole response, stream). Pass-through is the identity route: the client's body goes up with
only the model swapped, and the stream is observed, not rebuilt. Routes are built once at
import into ``ROUTES``; ``route_for`` is a dict lookup, so no code asks "which dialect?".

To add a dialect pair: write its three translators and add a ``Route`` to ``_TRANSLATED``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from gateway.dialects.sse import SSEEvent
from gateway.errors import RequestValidationError, UpstreamError
from gateway.pipeline.codecs import ANTHROPIC_MESSAGES, CODECS, OPENAI_CHAT, Codec, ParsedRequest, StreamObserver
from gateway.translate.requests import anthropic_request_to_openai, openai_request_to_anthropic
from gateway.translate.responses import (
    ResponseSummary,
    anthropic_response_to_openai,
    openai_response_to_anthropic,
)
from gateway.translate.streams import AnthropicToOpenAIStream, OpenAIToAnthropicStream

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class StreamTranslator(Protocol):
    """Upstream events in one dialect -> client frames in another (``gateway.translate.streams``)."""

    usage: dict[str, Any] | None
    finish_reason: str | None
    error: str | None
    done: bool
    usage_final: bool

    @property
    def text(self) -> str: ...

    @property
    def thinking(self) -> str: ...

    def feed(self, ev: SSEEvent) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class StreamRelay(Protocol):
    """One stream's client frames and what settlement records, whatever the route."""

    @property
    def usage(self) -> dict[str, Any] | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def usage_final(self) -> bool:
        """Whether the provider's closing usage arrived (else output is estimated from the text)."""
        ...

    @property
    def text(self) -> str: ...

    @property
    def thinking(self) -> str: ...

    def feed(self, events: list[SSEEvent]) -> bytes:
        """The client bytes these upstream events make (b"" when none)."""
        ...

    def finish(self) -> bytes:
        """Bytes still owed when the upstream body ends."""
        ...

    @property
    def complete(self) -> bool:
        """Whether the stream's end-of-stream marker arrived (the reply is whole)."""
        ...


_INCOMPLETE = "the provider's stream ended before the reply was complete"


class _Observed:
    """Identity route: events go to the client as they came; the observer reads them.

    A stream that ends without its dialect's end marker (``[DONE]``, ``message_stop``) is
    an error: the client gets an error frame instead of a silent, truncated end.
    """

    __slots__ = ("_codec", "_error", "_frame", "_observer")

    def __init__(self, observer: StreamObserver, codec: Codec) -> None:
        self._observer = observer
        self._codec = codec
        self._frame = codec.frame
        self._error: str | None = None

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._observer.usage

    @property
    def error(self) -> str | None:
        return self._observer.error or self._error

    @property
    def usage_final(self) -> bool:
        return self._observer.usage_final

    @property
    def text(self) -> str:
        return self._observer.text

    @property
    def thinking(self) -> str:
        return self._observer.thinking

    @property
    def complete(self) -> bool:
        return self._observer.done

    def feed(self, events: list[SSEEvent]) -> bytes:
        observe, frame = self._observer.observe, self._frame
        if len(events) == 1:
            ev = events[0]
            return frame(ev) if observe(ev) else b""
        return b"".join([frame(ev) for ev in events if observe(ev)])

    def finish(self) -> bytes:
        if self._observer.done or self._observer.error is not None:
            return b""
        self._error = _INCOMPLETE
        exc = UpstreamError(_INCOMPLETE, code="upstream_incomplete_stream")
        return self._codec.error_frame(exc) + self._codec.stream_end


class _Translated:
    """A translated route: the translator makes the client's frames."""

    __slots__ = ("_t",)

    def __init__(self, translator: StreamTranslator) -> None:
        self._t = translator

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._t.usage

    @property
    def error(self) -> str | None:
        return self._t.error

    @property
    def usage_final(self) -> bool:
        return self._t.usage_final

    @property
    def text(self) -> str:
        return self._t.text

    @property
    def thinking(self) -> str:
        return self._t.thinking

    @property
    def complete(self) -> bool:
        return self._t.done

    def feed(self, events: list[SSEEvent]) -> bytes:
        feed = self._t.feed
        if len(events) == 1:
            return b"".join(feed(events[0]))
        return b"".join([frame for ev in events for frame in feed(ev)])

    def finish(self) -> bytes:
        return b"".join(self._t.finish())


RequestTranslator = Callable[[ParsedRequest, str], dict[str, Any]]
ResponseTranslator = Callable[[dict[str, Any], str], dict[str, Any]]
StreamFactory = Callable[[str, bool], StreamTranslator]


@dataclass(frozen=True, slots=True)
class Route:
    """A (client dialect, provider dialect) pair and how a call crosses between them.

    Attributes:
        client: The endpoint's codec (what the client speaks).
        provider: The provider's codec (what goes upstream and comes back).
        to_provider: Client request -> provider body; None on the identity route.
        to_client: Provider response -> client response; None on the identity route.
        stream_translator: Makes a stream translator; None on the identity route.
    """

    client: Codec
    provider: Codec
    to_provider: RequestTranslator | None = None
    to_client: ResponseTranslator | None = None
    stream_translator: StreamFactory | None = None

    @property
    def identity(self) -> bool:
        return self.to_provider is None

    def upstream_body(self, parsed: ParsedRequest, upstream_model: str, system_prefix: str) -> bytes:
        """The request in the provider's dialect, with the gateway's system prefix in front.

        Raises:
            RequestValidationError: The request cannot be expressed in the provider's dialect.
        """
        if self.to_provider is None:
            body = self.client.passthrough(parsed, upstream_model)
        else:
            body = self.to_provider(parsed, upstream_model)
        if system_prefix:
            self.provider.prepend_system(body, system_prefix)
        try:
            return _enc.encode(body)
        except RecursionError:
            raise RequestValidationError(
                "Request body is nested too deeply: arrays and objects may nest a few hundred levels at most"
            ) from None

    def response(self, data: bytes, model: str) -> tuple[bytes, ResponseSummary]:
        """The client's response body and what the provider's response says (usage, text).

        Raises:
            UpstreamError: The provider's response is not a response of its dialect.
        """
        try:
            summary = self.provider.observe_response(data)
            if self.to_client is not None:
                data = _enc.encode(self.to_client(_dec.decode(data), model))
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, AttributeError) as exc:
            raise UpstreamError("the provider sent an unreadable response", code="upstream_bad_response") from exc
        return data, summary

    def stream(self, model: str, include_usage: bool) -> StreamRelay:
        """A fresh relay for one stream of this route."""
        if self.stream_translator is None:
            return _Observed(self.client.observer(include_usage), self.client)
        return _Translated(self.stream_translator(model, include_usage))


def _o2a_request(parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
    return openai_request_to_anthropic(parsed.typed, parsed.raw, upstream_model=upstream_model)


def _a2o_request(parsed: ParsedRequest, upstream_model: str) -> dict[str, Any]:
    body = anthropic_request_to_openai(parsed.typed, parsed.raw, upstream_model=upstream_model)
    if parsed.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _a2o_stream(model: str, include_usage: bool) -> StreamTranslator:
    return AnthropicToOpenAIStream(model, include_usage, int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}")


def _o2a_stream(model: str, include_usage: bool) -> StreamTranslator:
    return OpenAIToAnthropicStream(model, f"msg_{uuid.uuid4().hex[:24]}")


_TRANSLATED = (
    Route(
        client=OPENAI_CHAT,
        provider=ANTHROPIC_MESSAGES,
        to_provider=_o2a_request,
        to_client=lambda obj, model: anthropic_response_to_openai(obj, model=model),
        stream_translator=_a2o_stream,
    ),
    Route(
        client=ANTHROPIC_MESSAGES,
        provider=OPENAI_CHAT,
        to_provider=_a2o_request,
        to_client=lambda obj, model: openai_response_to_anthropic(obj, model=model),
        stream_translator=_o2a_stream,
    ),
)

ROUTES: dict[tuple[str, str], Route] = {
    **{(c.dialect, c.dialect): Route(client=c, provider=c) for c in CODECS.values()},
    **{(r.client.dialect, r.provider.dialect): r for r in _TRANSLATED},
}


def route_for(client: Codec, provider_dialect: str) -> Route:
    """The route from ``client`` to a provider speaking ``provider_dialect``."""
    return ROUTES[(client.dialect, provider_dialect)]

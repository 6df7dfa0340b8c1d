"""Stream and response translators from the Chat Completions and Messages dialects to the
Responses API, in the shape ``gateway.pipeline.route`` composes into routes.

An OpenAI Chat Completions upstream: each chunk is recorded (usage, text) by the usual
observer and turned into Responses events. An Anthropic upstream: the existing Messages ->
Chat Completions translator runs first and its chunks feed the same Responses stream, so
there is one Responses event writer (``ResponsesStream``) whatever the provider.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

import msgspec

from gateway.dialects.sse import SSEEvent, SSEParser
from gateway.translate.responses_output import (
    ResponsesStream,
    chat_to_response,
    created_now,
    new_response_id,
    response_shell,
)
from gateway.translate.streams import AnthropicToOpenAIStream, OpenAIStreamObserver

_dec = msgspec.json.Decoder()


class _Recorder(Protocol):
    usage: Any
    finish_reason: str | None
    error: str | None
    done: bool
    usage_final: bool

    @property
    def text(self) -> str: ...

    @property
    def thinking(self) -> str: ...


def fresh_shell(model: str) -> dict[str, Any]:
    """A response object for an answer whose request settings are not echoed (translated routes)."""
    return response_shell({}, new_response_id(), model, created_now())


def chat_completion_to_response(obj: dict[str, Any], model: str) -> dict[str, Any]:
    return chat_to_response(obj, fresh_shell(model))


class _ToResponses:
    """The Responses frames for a stream of Chat Completions chunks, recorded by ``recorder``."""

    def __init__(self, model: str, recorder: _Recorder) -> None:
        self._out = ResponsesStream(fresh_shell(model))
        self._recorder = recorder
        self._started = False

    @property
    def usage(self) -> Any:
        return self._recorder.usage

    @property
    def finish_reason(self) -> str | None:
        return self._recorder.finish_reason

    @property
    def error(self) -> str | None:
        return self._recorder.error

    @property
    def done(self) -> bool:
        return self._recorder.done

    @property
    def usage_final(self) -> bool:
        return self._recorder.usage_final

    @property
    def text(self) -> str:
        return self._recorder.text

    @property
    def thinking(self) -> str:
        return self._recorder.thinking

    def _chunk(self, data: bytes, frames: list[bytes]) -> None:
        if not self._started:
            self._started = True
            frames.append(self._out.start())
        if data == b"[DONE]" or self._out.failed:
            return
        try:
            chunk = _dec.decode(data)
        except msgspec.DecodeError:
            return
        if not isinstance(chunk, dict):
            return
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            frames.append(self._out.error(str(message or "upstream error"), code))
        else:
            frames.append(self._out.feed(chunk))

    def finish(self) -> list[bytes]:
        frames: list[bytes] = []
        if not self._started:
            self._chunk(b"[DONE]", frames)
        if not self._out.failed:
            frames.append(self._out.finish())
        return frames


class ChatToResponsesStream(_ToResponses):
    """Chat Completions upstream events -> Responses frames."""

    def __init__(self, model: str) -> None:
        self._observer = OpenAIStreamObserver(include_usage=True)
        super().__init__(model, self._observer)

    def feed(self, ev: SSEEvent) -> list[bytes]:
        self._observer.observe(ev)
        frames: list[bytes] = []
        self._chunk(ev.data, frames)
        return frames


class AnthropicToResponsesStream(_ToResponses):
    """Messages upstream events -> (Chat Completions chunks) -> Responses frames."""

    def __init__(self, model: str) -> None:
        self._inner = AnthropicToOpenAIStream(model, True, int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}")
        self._parser = SSEParser()
        super().__init__(model, self._inner)

    def _through(self, chat_frames: list[bytes]) -> list[bytes]:
        frames: list[bytes] = []
        for ev in self._parser.feed(b"".join(chat_frames)):
            self._chunk(ev.data, frames)
        return frames

    def feed(self, ev: SSEEvent) -> list[bytes]:
        return self._through(self._inner.feed(ev))

    def finish(self) -> list[bytes]:
        frames = self._through(self._inner.finish())
        return frames + super().finish()

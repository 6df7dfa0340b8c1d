"""One codec per client dialect; ``CODECS`` finds a provider's by its dialect name.

See ``gateway.pipeline.codecs.base`` for the seam and how to add a dialect.
"""

from __future__ import annotations

from gateway.pipeline.codecs.anthropic_messages import ANTHROPIC_MESSAGES, AnthropicMessagesCodec
from gateway.pipeline.codecs.base import Codec, ParsedRequest, StreamObserver
from gateway.pipeline.codecs.openai_chat import OPENAI_CHAT, OpenAIChatCodec

CODECS: dict[str, Codec] = {OPENAI_CHAT.dialect: OPENAI_CHAT, ANTHROPIC_MESSAGES.dialect: ANTHROPIC_MESSAGES}

__all__ = [
    "ANTHROPIC_MESSAGES",
    "CODECS",
    "OPENAI_CHAT",
    "AnthropicMessagesCodec",
    "Codec",
    "OpenAIChatCodec",
    "ParsedRequest",
    "StreamObserver",
]

"""Translation between the OpenAI and Anthropic chat dialects (pure: no I/O).

``requests`` builds an upstream body in the other dialect, ``responses`` converts a
finished reply, ``streams`` converts (or merely observes) a stream event by event, and
``system_prompt`` places the gateway's system prompt ahead of the client's.
"""

from gateway.translate.requests import (
    anthropic_request_to_openai,
    conversation_text_for_router,
    last_user_text,
    openai_request_to_anthropic,
)
from gateway.translate.responses import (
    ResponseSummary,
    anthropic_response_to_openai,
    observe_anthropic_response,
    observe_openai_response,
    openai_response_to_anthropic,
)
from gateway.translate.streams import (
    AnthropicStreamObserver,
    AnthropicToOpenAIStream,
    OpenAIStreamObserver,
    OpenAIToAnthropicStream,
)
from gateway.translate.system_prompt import prepend_system_anthropic, prepend_system_openai

__all__ = [
    "AnthropicStreamObserver",
    "AnthropicToOpenAIStream",
    "OpenAIStreamObserver",
    "OpenAIToAnthropicStream",
    "ResponseSummary",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "conversation_text_for_router",
    "last_user_text",
    "observe_anthropic_response",
    "observe_openai_response",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "prepend_system_anthropic",
    "prepend_system_openai",
]

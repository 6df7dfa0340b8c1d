"""Everything one proxied request carries from admission to settlement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth.principal import Principal
from gateway.config import Dialect, ModelEntry
from gateway.providers.base import Provider
from gateway.store.records import BudgetHold
from router.types import Decision


@dataclass(slots=True)
class RequestContext:
    request_id: str
    started: float  # perf_counter at arrival
    created_at: str  # ISO 8601 UTC at arrival
    dialect: Dialect  # the client's dialect (the endpoint's)
    endpoint: str  # "chat" | "messages"
    principal: Principal
    entry: ModelEntry
    provider: Provider
    tier: str  # the model's effective tier (basic/standard/premium)
    requested_model: str
    stream: bool
    include_usage: bool  # OpenAI clients: stream_options.include_usage
    prompt_chars: int
    max_output_tokens: int
    user_text: str  # the last user turn; set only for requests stored in a conversation
    decision: Decision | None = None
    auto_fell_back: bool = False
    conversation_id: str | None = None
    conversation_turn: int = 1
    reserved_millicents: int = 0
    upstream_wait: float = 0.0  # seconds spent waiting on the provider
    first_byte_at: float | None = None
    settled: bool = False
    budget_ticket: Any = None
    budget_holds: tuple[BudgetHold, ...] = ()  # lease holds (issue 11), released when usage lands
    limit_ticket: Any = None  # what the rate limiter must release at settlement
    limit_headers: dict[str, str] | None = None  # x-ratelimit-* for the response

    @property
    def translated(self) -> bool:
        return self.provider.dialect != self.dialect

    def response_headers(self) -> dict[str, str]:
        headers = {"x-request-id": self.request_id, "x-gateway-model": self.entry.id}
        if self.decision is not None:
            headers["x-gateway-tier"] = self.decision.tier
        if self.conversation_id is not None:
            headers["x-conversation-id"] = self.conversation_id
        if self.limit_headers:
            headers.update(self.limit_headers)
        return headers

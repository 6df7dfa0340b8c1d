"""What one client request carries (``RequestContext``) and what each model call carries (``ModelCall``).

A client request makes one model call under the ``single`` strategy and several under
others (cascade, parallel); each call has its own id, route, admission holds and usage row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.alarm import Alarm
from gateway.auth.principal import Principal
from gateway.config import ModelEntry
from gateway.pipeline.admission import Hold
from gateway.pipeline.codecs import Codec, ParsedRequest
from gateway.pipeline.route import Route
from gateway.policy.request import PolicyRequest
from gateway.providers.base import Provider
from pricing import Usage
from router.types import Decision

REQUEST_TYPES = ("chat", "arena", "second-opinion")


@dataclass(slots=True, frozen=True)
class CallOutcomeRecord:
    """A settled call's status, usage, cost and text."""

    status: str
    usage: Usage
    cost: int
    reply_text: str
    thinking: str


@dataclass(slots=True)
class RequestContext:
    """One client request, from arrival to the end of its response.

    Attributes:
        request_id: The client-visible id (``X-Request-Id``); the first model call's id.
        started: ``perf_counter`` at arrival.
        created_at: ISO 8601 UTC at arrival.
        codec: The endpoint's dialect.
        principal: The authenticated caller.
        parsed: The decoded body.
        request_type: ``X-Request-Type`` (chat, arena, second-opinion).
        decision: The router's decision when the client asked for ``auto``.
        auto_fell_back: AUTO used the nearest allowed complexity, not the scored one.
        conversation_header: The raw ``X-Conversation-Id`` value, if sent.
        conversation_id: The conversation the turn is appended to, once known.
        conversation_turn: Which user turn of the conversation this is.
        route_mode_header: The raw ``X-Gateway-Route-Mode`` value, if sent.
        route_mode: ``score`` or ``cascade`` (AUTO requests; resolved from the header and config).
        router_query: AUTO only: the prompt kept for training (``[router] keep_prompts``).
        answer_call: Id of the call whose answer the client gets, which carries the routing
            decision and the conversation turn (the first call; the cascade sets it once
            its check has chosen; None while undecided).
    """

    request_id: str
    started: float
    created_at: str
    codec: Codec
    principal: Principal
    parsed: ParsedRequest
    request_type: str = "chat"
    decision: Decision | None = None
    auto_fell_back: bool = False
    conversation_header: str | None = None
    conversation_id: str | None = None
    route_mode_header: str | None = None
    route_mode: str = "score"
    router_query: str | None = None
    answer_call: str | None = ""
    calls: int = 0  # model calls made so far (derives their ids)
    # The total deadline in seconds from arrival (GATEWAY_REQUEST_TIMEOUT_S, or lower by
    # X-Gateway-Timeout-Ms); None when resilience is off.
    timeout_s: float | None = None

    @property
    def stream(self) -> bool:
        return self.parsed.stream

    @property
    def conversation_turn(self) -> int:
        """Which user turn of the conversation this is (read only by AUTO's decision row)."""
        return max(1, sum(1 for role, _ in self.parsed.turns if role == "user"))

    def call_id(self) -> str:
        """A fresh model-call id: the request id for the first call, derived ones after."""
        self.calls += 1
        if self.calls == 1:
            if self.answer_call == "":
                self.answer_call = self.request_id
            return self.request_id
        return str(uuid.uuid5(uuid.UUID(self.request_id), f"call-{self.calls}"))

    def response_headers(self, call: ModelCall) -> dict[str, str]:
        headers = {"x-request-id": self.request_id, "x-gateway-model": call.entry.id}
        if self.decision is not None:
            headers["x-gateway-tier"] = self.decision.complexity
        if self.conversation_id is not None:
            headers["x-conversation-id"] = self.conversation_id
        headers.update(call.attempt_headers())
        for hold in call.holds:  # x-ratelimit-* from the rate-limit step, when limits apply
            extra = getattr(hold, "response_headers", None)
            if extra:
                headers.update(extra)
        return headers


@dataclass(slots=True)
class ModelCall:
    """One call of one model on one provider, and what settlement needs to record it.

    Attributes:
        request_id: This call's id (its llm_usage row's ``request_id``).
        entry: The catalog model.
        provider: Who serves it.
        route: Client dialect -> provider dialect.
        model_tier: The model's effective tier for the caller (basic/standard/premium).
        max_output_tokens: The output bound the call goes up with.
        holds: What admission gave this call; settlement releases them once.
        forward_headers: Client headers the provider defines, sent with the call (None: none).
        upstream_wait: Seconds spent waiting on the provider.
        first_byte_at: ``perf_counter`` when the first client byte of this call was ready.
        settled: Set by settlement; a call is settled exactly once.
    """

    request_id: str
    entry: ModelEntry
    provider: Provider
    route: Route
    model_tier: str
    max_output_tokens: int
    holds: list[Hold] = field(default_factory=list)
    forward_headers: dict[str, str] | None = None
    upstream_wait: float = 0.0
    first_byte_at: float | None = None
    settled: bool = False
    # Resilience (gateway.resilience): upstream attempts made, the model a fallback replaced,
    # the deployment that served, the failed attempts (FailedAttempt), the loop time the
    # request must end by, and what to tell the deployment when the call settles (its
    # circuit verdict: True ok, False failed, None no verdict).
    attempts: int = 1
    fell_back_from: str | None = None
    deployment: str | None = None
    failed_attempts: list[Any] = field(default_factory=list)
    deadline_at: float | None = None
    on_settled: Callable[[bool | None], None] | None = None
    # The total deadline's alarm, when the attempt armed one (non-streamed calls): disarmed
    # between the response head and the body, armed again by the relay around its read.
    deadline_alarm: Alarm | None = None

    def attempt_headers(self) -> dict[str, str]:
        """``X-Gateway-Attempts`` / ``X-Gateway-Fallback``, only when a retry or fallback happened."""
        if self.attempts <= 1 and self.fell_back_from is None:
            return {}
        headers = {"x-gateway-attempts": str(self.attempts)}
        if self.fell_back_from is not None:
            headers["x-gateway-fallback"] = self.fell_back_from
        return headers

    # What settlement recorded, for records written after the call settled (the cascade's
    # decision row and conversation turn for an accepted draft).
    outcome: CallOutcomeRecord | None = None

    def policy_request(self, ctx: RequestContext) -> PolicyRequest:
        return PolicyRequest(
            request_id=self.request_id,
            created_at=ctx.created_at,
            principal=ctx.principal,
            model=self.entry,
            prompt_chars=ctx.parsed.prompt_chars,
            max_output_tokens=self.max_output_tokens,
        )

    @property
    def reserved_millicents(self) -> int:
        return sum(h.reserved_millicents for h in self.holds)

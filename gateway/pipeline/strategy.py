"""Strategy: how one client request turns into model calls.

A strategy gets an ``Exchange`` (the admitted request, its first model call with the
upstream body ready, the door and the settlement) and makes the calls it needs through
``Exchange.attempt``; every call it adds goes through ``Exchange.add_call``, which admits it
through the same admission steps and hands it to settlement, so each call has its own
usage row and passes the same limits. ``single`` (today's only strategy) makes one call
and relays it.

To add a strategy (``cascade``: drafters in parallel, a check, an escalation; ``parallel``:
several models into one client stream): write a class with ``name`` and ``run``, and pick
it in ``gateway.pipeline.handle.choose_strategy`` (e.g. from the router mode or the
request type). Relay helpers are in ``gateway.pipeline.relay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.door import Door
from gateway.pipeline.relay import relay_stream, relay_whole
from gateway.pipeline.resolve import Resolved
from gateway.pipeline.route import route_for_provider
from gateway.pipeline.settlement import Settlement
from gateway.providers.upstream import UpstreamResponse

if TYPE_CHECKING:
    from gateway.services import Services


@dataclass(slots=True)
class Exchange:
    """One admitted client request, as a strategy sees it.

    Attributes:
        services: The app's collaborators.
        ctx: The client request.
        door: The client's connection (send through ``gateway.pipeline.relay``).
        settlement: Settles every call of this request.
        primary: The first model call, admitted.
        body: The primary call's upstream body.
    """

    services: Services
    ctx: RequestContext
    door: Door
    settlement: Settlement
    primary: ModelCall
    body: bytes

    async def attempt(self, call: ModelCall, body: bytes) -> UpstreamResponse:
        """Send one call (through the services' attempt chain: retries, fallbacks)."""
        return await self.services.attempt(call, body, self.ctx)

    async def add_call(self, resolved: Resolved, max_output_tokens: int) -> ModelCall:
        """Another model call for this request, tracked by settlement and admitted like the first."""
        call = ModelCall(
            request_id=self.ctx.call_id(),
            entry=resolved.entry,
            provider=resolved.provider,
            route=route_for_provider(self.ctx.codec, resolved.provider),
            model_tier=resolved.model_tier,
            max_output_tokens=max_output_tokens,
            forward_headers=self.primary.forward_headers,
        )
        if self.services.admission.needed(self.ctx.principal):
            call.holds = await self.services.admission.admit(call.policy_request(self.ctx))
        return self.settlement.track(call)


class Strategy(Protocol):
    """Turns an admitted request into model calls and relays the answer to the client."""

    name: str

    async def run(self, x: Exchange) -> None: ...


class SingleStrategy:
    """One model call, relayed (streamed or whole)."""

    name = "single"

    async def run(self, x: Exchange) -> None:
        resp = await x.services.attempt(x.primary, x.body, x.ctx)  # what x.attempt does, one layer less
        if x.ctx.stream:
            await relay_stream(x.ctx, x.primary, resp, x.door, x.settlement)
        else:
            await relay_whole(x.ctx, x.primary, resp, x.door, x.settlement)

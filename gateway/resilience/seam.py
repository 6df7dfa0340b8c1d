"""``ResilientAttempt``: the pipeline's attempt seam with deployments, retries and fallbacks.

It replaces ``ProviderAttempt`` as ``Services.attempt`` (unless ``GATEWAY_RESILIENCE=off``).
For one model call it runs ``gateway.resilience.attempts.run_attempts`` over the model's
deployments and, once they are spent, its fallback chain; when an attempt answers 2xx the call
becomes the one that served: its model, provider, route (a fallback may speak the other
dialect) and tier, with the attempts and the fallback recorded for the response headers, the
usage rows and the routing decision. The serving deployment's in-flight slot and circuit
verdict are settled with the call (``ModelCall.on_settled``), so a failure mid-stream counts
against the deployment as it should.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

from gateway.catalog import Catalog
from gateway.config import ModelEntry
from gateway.errors import GatewayError, RequestValidationError, UpstreamError
from gateway.metrics import Metrics
from gateway.observe.tracing import Tracing
from gateway.pipeline.attempt import report_failure
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.resolve import system_prefix
from gateway.pipeline.route import Route, route_for_provider
from gateway.policy.tiers import is_allowed, model_tier
from gateway.providers.base import EndpointProvider
from gateway.providers.upstream import UpstreamResponse
from gateway.resilience.attempts import FailedAttempt, RetryPolicy, run_attempts
from gateway.resilience.deadlines import Deadline
from gateway.resilience.deployments import Deployment
from gateway.resilience.fallback import fallback_chain
from gateway.settings import Settings


class ResilientAttempt:
    """Deployments, retries before the first byte, fallbacks and circuits around each call."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        fallbacks: dict[str, list[str]],
        deployments: dict[str, list[Deployment]],
        policy: RetryPolicy,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._fallbacks = fallbacks
        self._deployments = deployments
        self._policy = policy
        self._metrics = metrics
        self._tracing = tracing if tracing is not None and tracing.enabled else None

    async def __call__(self, call: ModelCall, body: bytes, ctx: RequestContext | None = None) -> UpstreamResponse:
        s = self._settings
        loop = asyncio.get_running_loop()
        primary = call.entry
        if ctx is not None:
            total_s = ctx.timeout_s if ctx.timeout_s is not None else s.request_timeout_s
            # The total deadline counts from the request's arrival, not from here.
            call.deadline_at = loop.time() - (time.perf_counter() - ctx.started) + total_s
        else:
            call.deadline_at = loop.time() + s.request_timeout_s

        def route_of(dep: Deployment) -> Route:
            # The client's codec to this deployment's provider (the native Responses route
            # when the provider serves it).
            return call.route if ctx is None else route_for_provider(ctx.codec, dep.provider)

        bodies: dict[tuple[str, str, str | None], bytes] = {
            (call.provider.dialect, primary.upstream, call.route.upstream_path): body
        }

        def body_for(dep: Deployment) -> bytes:
            route = route_of(dep)
            key = (dep.provider.dialect, dep.upstream, route.upstream_path)
            found = bodies.get(key)
            if found is None:
                if ctx is None:
                    raise RequestValidationError("this call cannot be rebuilt for another deployment")
                found = bodies[key] = route.upstream_body(ctx.parsed, dep.upstream, system_prefix(ctx.principal))
            return found

        def usable(m: ModelEntry) -> bool:
            if ctx is None or not is_allowed(ctx.principal, m):
                return False
            pool = self._deployments.get(m.id)
            if not pool:
                return False
            try:
                body_for(pool[0])  # a request the fallback's dialect cannot express is no fallback
            except RequestValidationError:
                return False
            return True

        def chain() -> Sequence[ModelEntry]:
            if ctx is None:
                return ()
            return fallback_chain(
                self._catalog,
                primary,
                configured=self._fallbacks,
                use_defaults=s.default_fallbacks,
                auto_complexity=primary.complexity if ctx.decision is not None else None,
                allowed=usable,
                limit=s.fallback_max_models,
            )

        primary_dialect = call.provider.dialect
        primary_provider, primary_path = call.provider, call.route.upstream_path

        async def send(entry: ModelEntry, dep: Deployment, wait_s: float) -> UpstreamResponse:
            if self._tracing is None and dep.provider is primary_provider and dep.upstream == primary.upstream:
                # The common case: the call's own provider, route and body, as they are.
                if primary_path is None:
                    return await dep.provider.send(body, call.forward_headers, first_byte_timeout_s=wait_s)
                return await _send(dep, call.route, body, call.forward_headers, wait_s)
            # The client's provider-defined headers (anthropic-beta...) go only to that dialect.
            extra = call.forward_headers if dep.provider.dialect == primary_dialect else None
            if self._tracing is None:
                return await _send(dep, route_of(dep), body_for(dep), extra, wait_s)
            # One client span per upstream attempt (GenAI client span convention).
            attrs: dict[str, str | int | float | bool] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": entry.provider,
                "gen_ai.system": entry.provider,
                "gen_ai.request.model": dep.upstream,
                "gateway.deployment": dep.name,
                "gateway.request_id": call.request_id,
                "gen_ai.request.max_tokens": call.max_output_tokens,
            }
            with self._tracing.span(f"chat {dep.upstream}", attrs, client=True) as span:
                resp = await _send(dep, route_of(dep), body_for(dep), extra, wait_s)
                span.set_attributes({"http.response.status_code": resp.status})
                return resp

        m = self._metrics

        def on_failure(f: FailedAttempt) -> None:
            call.failed_attempts.append(f)
            reason = f"http_{f.status}" if f.status is not None else f.error.code
            report_failure(m, call, reason, f.status, f.error)
            m.child(m.attempts, f.deployment, f.model.id, reason).inc()

        t0 = time.perf_counter()
        try:
            served = await run_attempts(
                primary,
                chain,
                self._deployments,
                send,
                policy=self._policy,
                deadline=Deadline(at=call.deadline_at),
                first_byte_s=s.first_byte_timeout_s,
                stream=ctx.stream if ctx is not None else True,
                clock=loop.time,
                on_failure=on_failure,
            )
        except GatewayError as exc:
            call.upstream_wait += time.perf_counter() - t0
            call.attempts = max(1, len(call.failed_attempts))
            # The row is the primary model's: name the last of its deployments that failed.
            mine = [f.deployment for f in call.failed_attempts if f.model is primary]
            if mine:
                call.deployment = mine[-1]
            exc.extra_headers = {**(exc.extra_headers or {}), **call.attempt_headers()}
            raise
        call.upstream_wait += time.perf_counter() - t0
        dep = served.deployment
        m.child(m.attempts, dep.name, served.model.id, "ok").inc()
        call.attempts = served.attempts
        call.deployment = dep.name
        if served.model is not primary:
            call.fell_back_from = primary.id
            call.entry = served.model
            if ctx is not None:
                call.model_tier = model_tier(ctx.principal, served.model) or served.model.tier
            m.child(m.fallbacks, primary.id, served.model.id).inc()
        if dep.provider is not call.provider:
            call.provider = dep.provider
            if ctx is not None:
                call.route = route_of(dep)

        def settled(ok: bool | None) -> None:
            served.finish(loop.time(), ok=ok)

        call.on_settled = settled
        return served.response


async def _send(
    dep: Deployment, route: Route, body: bytes, headers: Mapping[str, str] | None, wait_s: float
) -> UpstreamResponse:
    """One send to ``dep``: its provider's main endpoint, or the route's own (``/responses``)."""
    path = route.upstream_path
    if path is None:
        return await dep.provider.send(body, headers, first_byte_timeout_s=wait_s)
    if not isinstance(dep.provider, EndpointProvider):
        raise UpstreamError(f"the provider '{dep.provider.name}' has no {path} endpoint", code="upstream_unsupported")
    return await dep.provider.send_to(path, body, headers, first_byte_timeout_s=wait_s)

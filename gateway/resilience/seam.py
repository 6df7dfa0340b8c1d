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

from gateway.alarm import Alarm
from gateway.catalog import Catalog
from gateway.config import ModelEntry
from gateway.errors import GatewayError, RequestValidationError, UpstreamError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.observe.tracing import Tracing
from gateway.pipeline.attempt import report_failure
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.resolve import system_prefix
from gateway.pipeline.route import Route, route_for_provider
from gateway.policy.tiers import is_allowed, model_tier
from gateway.providers.base import EndpointProvider
from gateway.providers.upstream import UpstreamResponse, first_byte_timeout
from gateway.resilience.attempts import FailedAttempt, RetryPolicy, refused, run_attempts
from gateway.resilience.deadlines import Deadline
from gateway.resilience.deployments import Deployment
from gateway.resilience.fallback import fallback_chain
from gateway.resilience.keepalive import TOTAL_DEADLINE_MESSAGE
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
        now = loop.time()
        primary = call.entry
        if ctx is not None:
            total_s = ctx.timeout_s if ctx.timeout_s is not None else s.request_timeout_s
            # The total deadline counts from the request's arrival, not from here.
            call.deadline_at = now - (time.perf_counter() - ctx.started) + total_s
        else:
            call.deadline_at = now + s.request_timeout_s
        stream = ctx.stream if ctx is not None else True
        first_failure: tuple[Deployment, GatewayError, int | None] | None = None

        # The healthy path, first and inline (no coroutine of its own): the model's one plain
        # deployment, its own provider and body, one attempt. A streamed call waits for the
        # head at most GATEWAY_FIRST_BYTE_TIMEOUT_S; a whole answer's head comes only with
        # the answer, so only the total deadline bounds it. Either way one alarm serves the
        # attempt and is then handed to the relay (``call.deadline_alarm``), which moves it to
        # the body's deadlines instead of arming timers of its own. Only a failure sets up
        # ``_retry`` (which carries on from it).
        pool = self._deployments.get(primary.id)
        if self._tracing is None and pool is not None and len(pool) == 1:
            dep = pool[0]
            if dep.provider is call.provider and dep.upstream == primary.upstream and dep.take(now):
                t0 = time.perf_counter()
                deadline = call.deadline_at
                first_byte_at = now + s.first_byte_timeout_s if stream else deadline
                alarm = call.deadline_alarm = Alarm.at(first_byte_at if first_byte_at < deadline else deadline)
                try:
                    if call.route.upstream_path is None:
                        resp = await dep.provider.send(body, call.forward_headers)
                    else:
                        resp = await _send(dep, call.route, body, call.forward_headers, None)
                except UpstreamError as exc:
                    dep.end(loop.time(), ok=False)
                    first_failure = dep, exc, None
                except asyncio.CancelledError:
                    if not alarm.expired():
                        dep.end(loop.time(), ok=None)
                        raise
                    dep.end(loop.time(), ok=False)
                    if alarm.when < deadline:
                        first_failure = dep, first_byte_timeout(s.first_byte_timeout_s), None
                    else:
                        first_failure = dep, _total_deadline_before_headers(), None
                except BaseException:  # re-raised: only the deployment's slot is freed (no circuit verdict)
                    dep.end(loop.time(), ok=None)
                    raise
                finally:
                    alarm.armed = False  # until the relay reads the body (it cancels nothing meanwhile)
                if first_failure is None:
                    if resp.status < 400:
                        call.upstream_wait += time.perf_counter() - t0
                        return self._served(call, ctx, primary, dep, 1, resp, loop)
                    failure, status = await refused(dep, resp, loop.time)
                    first_failure = dep, failure, status
                call.upstream_wait += time.perf_counter() - t0
        return await self._retry(call, body, ctx, first_failure, stream, loop)

    async def _retry(
        self,
        call: ModelCall,
        body: bytes,
        ctx: RequestContext | None,
        first_failure: tuple[Deployment, GatewayError, int | None] | None,
        stream: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> UpstreamResponse:
        """Deployments, retries and fallbacks: after the healthy path failed, or where it does not apply."""
        s = self._settings
        primary = call.entry
        assert call.deadline_at is not None

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

        async def send(entry: ModelEntry, dep: Deployment, wait_s: float) -> UpstreamResponse:
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
            m.attempts.add((f.deployment, f.model.id, reason))

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
                stream=stream,
                clock=loop.time,
                on_failure=on_failure,
                first_failure=first_failure,
            )
        except GatewayError as exc:
            call.upstream_wait += time.perf_counter() - t0
            call.attempts = max(1, len(call.failed_attempts))
            # The row is the primary model's: name the last of its deployments that failed.
            mine = [f.deployment for f in call.failed_attempts if f.model is primary]
            if mine:
                call.deployment = mine[-1]
            exc.extra_headers = {**(exc.extra_headers or {}), **call.attempt_headers()}
            _drop_alarm(call)
            raise
        except BaseException:  # re-raised: only the healthy path's alarm is dropped
            _drop_alarm(call)
            raise
        call.upstream_wait += time.perf_counter() - t0
        return self._served(call, ctx, served.model, served.deployment, served.attempts, served.response, loop)

    def _served(
        self,
        call: ModelCall,
        ctx: RequestContext | None,
        model: ModelEntry,
        dep: Deployment,
        attempts: int,
        resp: UpstreamResponse,
        loop: asyncio.AbstractEventLoop,
    ) -> UpstreamResponse:
        """Make ``call`` the one that served (model, provider, route, tier), and return its response."""
        m = self._metrics
        primary = call.entry
        m.attempts.add((dep.name, model.id, "ok"))
        call.attempts = attempts
        call.deployment = dep.name
        if model is not primary:
            call.fell_back_from = primary.id
            call.entry = model
            if ctx is not None:
                call.model_tier = model_tier(ctx.principal, model) or model.tier
            m.child(m.fallbacks, primary.id, model.id).inc()
        if dep.provider is not call.provider:
            call.provider = dep.provider
            if ctx is not None:
                call.route = route_for_provider(ctx.codec, dep.provider)
        call.on_settled = dep.settled  # (settlement also cancels call.deadline_alarm)
        return resp


async def _send(
    dep: Deployment, route: Route, body: bytes, headers: Mapping[str, str] | None, wait_s: float | None
) -> UpstreamResponse:
    """One send to ``dep``: its provider's main endpoint, or the route's own (``/responses``)."""
    path = route.upstream_path
    if path is None:
        return await dep.provider.send(body, headers, first_byte_timeout_s=wait_s)
    if not isinstance(dep.provider, EndpointProvider):
        raise UpstreamError(f"the provider '{dep.provider.name}' has no {path} endpoint", code="upstream_unsupported")
    return await dep.provider.send_to(path, body, headers, first_byte_timeout_s=wait_s)


def _total_deadline_before_headers() -> UpstreamTimeout:
    err = UpstreamTimeout(TOTAL_DEADLINE_MESSAGE)
    err.before_headers = True
    return err


def _drop_alarm(call: ModelCall) -> None:
    """Nothing served: the healthy path's deadline alarm has no relay to serve."""
    if call.deadline_alarm is not None:
        call.deadline_alarm.cancel()
        call.deadline_alarm = None

"""The app factory and its lifespan, which owns every long-lived resource."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from psycopg_pool import AsyncConnectionPool

from gateway.auth.jwt import JWTVerifier
from gateway.auth.resolver import PrincipalResolver
from gateway.catalog import Catalog
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.http import (
    admin_routes,
    arena_routes,
    console_routes,
    feedback_routes,
    key_routes,
    openapi_docs,
    report_routes,
    responses_routes,
    router_routes,
)
from gateway.http.count_tokens_route import count_tokens
from gateway.http.embeddings_route import embeddings
from gateway.http.errors import handle_exception
from gateway.http.models_route import get_model, list_models
from gateway.http.ops import healthz, metrics, readyz
from gateway.http.proxy_routes import chat_completions, messages
from gateway.http.second_opinion_route import second_opinion
from gateway.limits.auth_throttle import AuthThrottle
from gateway.limits.guard import RateLimitGuard
from gateway.limits.leases import RateLeases
from gateway.limits.local import LocalLimiter
from gateway.limits.redis_limiter import RedisLimiter
from gateway.metrics import Metrics
from gateway.notify import listen
from gateway.observe.attempt_span import traced_attempt
from gateway.observe.request_id import request_id_middleware
from gateway.observe.tracing import build_tracing
from gateway.pipeline.admission import build_admission
from gateway.pipeline.attempt import Attempt, ProviderAttempt
from gateway.pipeline.cascade import CascadeStrategy
from gateway.pipeline.conversations import ConversationGate
from gateway.pipeline.strategy import SingleStrategy, Strategy
from gateway.policy.budget import BudgetGuard
from gateway.policy.budget_guard import build_budget_guard
from gateway.providers.base import Provider
from gateway.providers.upstream import AiohttpUpstream, UpstreamClient
from gateway.resilience.deployments import Deployment, build_deployments
from gateway.resilience.fallback import check_configured
from gateway.resilience.seam import ResilientAttempt
from gateway.routing.store import RouterConfigStore
from gateway.services import Services, build_prices, build_providers, circuit_policy, provider_specs, retry_policy
from gateway.settings import Settings
from gateway.store.queue import WriteQueue
from gateway.tokens import TokenCounter

# (settings, pool, queue, prices, background tasks) -> the budget guard; see build_budget_guard.
BudgetFactory = Callable[..., BudgetGuard]

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)


def _strategies(config: GatewayConfig) -> dict[str, Strategy]:
    """``single`` always; ``cascade`` when ``[router.cascade]`` names drafters."""
    found: dict[str, Strategy] = {"single": SingleStrategy()}
    if config.router.cascade is not None:
        found["cascade"] = CascadeStrategy(config.router.cascade)
    return found


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    upstream: UpstreamClient | None = None,
    providers: dict[str, Provider] | None = None,
    budget_factory: BudgetFactory | None = None,
    strategies: dict[str, Strategy] | None = None,
    span_exporter: SpanExporter | None = None,
) -> AsyncIterator[Services]:
    """Every long-lived resource, built once, running until the block exits.

    The app's lifespan uses it; pipeline tests use it directly, with scripted providers and
    no HTTP server.
    """
    if not settings.database_url:
        raise ValueError("open_services needs settings.database_url (the CLI resolves the embedded server)")
    url = settings.database_url
    config = load_config(settings.config_path)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        # A short wait for a connection: with the database away, requests that need it
        # fail fast with a 503 instead of queueing for the default 30 s.
        url,
        min_size=2,
        max_size=16,
        open=False,
        kwargs={"autocommit": True},
        name="gateway",
        timeout=5.0,
    )
    await pool.open(wait=False)
    client = (
        upstream
        if upstream is not None
        else AiohttpUpstream(
            # With resilience on, the stream reader keeps its own idle and total deadlines.
            timeout_s=None if settings.resilience else settings.upstream_timeout_s,
            connect_timeout_s=settings.upstream_connect_timeout_s,
        )
    )
    catalog = Catalog.with_overrides(config.models)
    m = Metrics()
    queue = WriteQueue(
        pool,
        settings.spool_dir,
        m,
        max_items=settings.write_queue_max,
        batch_max=settings.write_batch_max,
        flush_interval_s=settings.write_flush_interval_s,
    )
    prices = build_prices(catalog, config)
    tracing = build_tracing(settings, span_exporter)
    background: list[asyncio.Task[None]] = []
    budget = (budget_factory or build_budget_guard)(settings, pool, queue, prices, background)
    # Rate limits: shared through Redis when REDIS_URL is set, else per process.
    redis_limiter = RedisLimiter.from_url(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    limits = RateLimitGuard(
        RateLeases(redis_limiter) if redis_limiter is not None else LocalLimiter(),
        m,
        failure_mode=settings.rate_limit_failure,
        slot_ttl_s=settings.upstream_timeout_s + 60.0,
    )
    background.append(asyncio.create_task(limits.run(), name="rate-limit-settlement"))
    # Run after the write queue drained at shutdown: the last holds have landed by then.
    closers: list[Callable[[], Awaitable[None]]] = [limits.close]
    budget_close = getattr(budget, "close", None)
    if budget_close is not None:
        closers.append(budget_close)
    live = providers if providers is not None else build_providers(settings, config, client)
    deployments: dict[str, list[Deployment]] = {}
    attempt: Attempt = ProviderAttempt(m)
    if settings.resilience:
        problems = check_configured(catalog, config.fallbacks)
        if problems:
            raise ConfigError("GATEWAY_CONFIG: " + "; ".join(problems))
        deployments = build_deployments(
            catalog, live, provider_specs(settings, config), config, client, circuit_policy(settings)
        )
        m.watch_deployments(deployments, asyncio.get_running_loop().time)
        attempt = ResilientAttempt(
            settings=settings,
            catalog=catalog,
            fallbacks=config.fallbacks,
            deployments=deployments,
            policy=retry_policy(settings),
            metrics=m,
            tracing=tracing,
        )
    else:
        attempt = traced_attempt(attempt, tracing)
    services = Services(
        settings=settings,
        config=config,
        pool=pool,
        catalog=catalog,
        providers=live,
        deployments=deployments,
        prices=prices,
        resolver=PrincipalResolver(pool, settings.principal_cache_ttl_s, settings.cache_stale_s, m),
        jwt=JWTVerifier(settings),
        queue=queue,
        metrics=m,
        router_store=RouterConfigStore(pool),
        budget=budget,
        admission=build_admission(budget, limits),
        attempt=attempt,
        strategies=strategies if strategies is not None else _strategies(config),
        conversations=ConversationGate(pool),
        database_url=url,
        loop=asyncio.get_running_loop(),
        background=background,
        tracing=tracing,
        token_counter=TokenCounter(settings.tiktoken_cache_dir),
        auth_throttle=AuthThrottle(settings.auth_failures_per_min, redis_limiter),
        closers=closers,
    )

    def on_notify(payload: str) -> None:
        if payload in ("all", "principals"):
            services.resolver.invalidate()
        if payload == "reconnect":
            # A notification may have been missed: revalidate, but keep serving meanwhile.
            services.resolver.mark_stale()
        if payload in ("all", "router"):
            services.router_store.invalidate()

    queue.start()
    listener = asyncio.create_task(listen(url, on_notify), name="cache-invalidation")
    try:
        yield services
    finally:
        for task in (listener, *services.background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await queue.drain()
        for close in services.closers:
            try:
                await close()
            except Exception:  # one closer failing must not skip the others (logged)
                log.exception("shutdown step failed")
        await client.close()
        await pool.close()
        tracing.shutdown()


# Requests allocate many short-lived containers; at the default threshold (700) the young
# generation was collected ~350 times a second under load, each pass walking the objects of
# every request in flight, about a tenth of the CPU (gc.callbacks, 64 connections).
GC_YOUNG_THRESHOLD = 20_000


def tune_collector() -> None:
    """Freeze what start-up built and collect the young generation less often.

    Everything alive once the services are open (modules, catalog, caches) lives as long as
    the process; ``gc.freeze`` moves it out of the collector's reach, so a full collection
    walks only what requests allocate. Reference cycles still go, just in larger batches.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def create_app(
    settings: Settings,
    *,
    upstream: UpstreamClient | None = None,
    providers: dict[str, Provider] | None = None,
    span_exporter: SpanExporter | None = None,
    budget_factory: BudgetFactory | None = None,
    server_process: bool = False,
) -> Litestar:
    """Build the app. ``upstream``/``providers`` replace the network seam in tests.

    ``span_exporter`` turns tracing on with that exporter (tests use an in-memory one);
    otherwise tracing follows ``settings.otel_endpoint``. ``server_process``: the app owns
    its process (``gateway serve``), so the collector is tuned for it once started (never
    in a test process that builds many apps).
    """
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (the CLI resolves the embedded server)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(
            settings,
            upstream=upstream,
            providers=providers,
            budget_factory=budget_factory,
            span_exporter=span_exporter,
        ) as services:
            app.state.services = services
            if server_process:
                tune_collector()
            yield

    return Litestar(
        route_handlers=[
            # The proxy doors make their request id in the pipeline; every other route gets
            # one from the middleware of this router (so the doors pay nothing for it).
            chat_completions,
            messages,
            responses_routes.create_response,
            second_opinion,
            Router(
                path="/",
                route_handlers=[
                    list_models,
                    get_model,
                    count_tokens,
                    embeddings,
                    responses_routes.get_response,
                    responses_routes.delete_response,
                    healthz,
                    readyz,
                    metrics,
                    *admin_routes.ROUTES,
                    *key_routes.ROUTES,
                    *console_routes.ROUTES,
                    *report_routes.ROUTES,
                    *router_routes.ROUTES,
                    *arena_routes.ROUTES,
                    *feedback_routes.ROUTES,
                ],
                middleware=[request_id_middleware],
            ),
        ],
        lifespan=[lifespan],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="LLM Gateway", version="0.1.0", path="/schema", render_plugins=openapi_docs.render_plugins()
        ),
        logging_config=None,
    )

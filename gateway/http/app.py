"""The app factory and its lifespan, which owns every long-lived resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from psycopg_pool import AsyncConnectionPool

from gateway.auth.jwt import JWTVerifier
from gateway.auth.resolver import PrincipalResolver
from gateway.catalog import Catalog
from gateway.config import load_config
from gateway.http import admin_routes, report_routes, router_routes
from gateway.http.errors import handle_exception
from gateway.http.models_route import list_models
from gateway.http.ops import healthz, metrics, readyz
from gateway.http.proxy_routes import chat_completions, messages
from gateway.limits.auth_throttle import AuthThrottle
from gateway.limits.guard import RateLimitGuard
from gateway.limits.local import LocalLimiter
from gateway.limits.redis_limiter import RedisLimiter
from gateway.metrics import Metrics
from gateway.notify import listen
from gateway.pipeline.admission import build_admission
from gateway.pipeline.attempt import ProviderAttempt
from gateway.pipeline.conversations import ConversationGate
from gateway.pipeline.strategy import SingleStrategy, Strategy
from gateway.policy.budget import BudgetGuard
from gateway.policy.budget_guard import build_budget_guard
from gateway.providers.base import Provider
from gateway.providers.upstream import AiohttpUpstream, UpstreamClient
from gateway.routing.store import RouterConfigStore
from gateway.services import Services, build_prices, build_providers
from gateway.settings import Settings
from gateway.store.queue import WriteQueue

# (settings, pool, queue, prices, background tasks) -> the budget guard; see build_budget_guard.
BudgetFactory = Callable[..., BudgetGuard]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    upstream: UpstreamClient | None = None,
    providers: dict[str, Provider] | None = None,
    budget_factory: BudgetFactory | None = None,
    strategies: dict[str, Strategy] | None = None,
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
            timeout_s=settings.upstream_timeout_s, connect_timeout_s=settings.upstream_connect_timeout_s
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
    background: list[asyncio.Task[None]] = []
    budget = (budget_factory or build_budget_guard)(settings, pool, queue, prices, background)
    # Rate limits: shared through Redis when REDIS_URL is set, else per process.
    redis_limiter = RedisLimiter.from_url(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    limits = RateLimitGuard(
        redis_limiter if redis_limiter is not None else LocalLimiter(),
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
    services = Services(
        settings=settings,
        config=config,
        pool=pool,
        catalog=catalog,
        providers=providers if providers is not None else build_providers(settings, config, client),
        prices=prices,
        resolver=PrincipalResolver(pool, settings.principal_cache_ttl_s, settings.cache_stale_s, m),
        jwt=JWTVerifier(settings),
        queue=queue,
        metrics=m,
        router_store=RouterConfigStore(pool),
        budget=budget,
        admission=build_admission(budget, limits),
        attempt=ProviderAttempt(m),
        strategies=strategies if strategies is not None else {"single": SingleStrategy()},
        conversations=ConversationGate(pool),
        database_url=url,
        loop=asyncio.get_running_loop(),
        background=background,
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


def create_app(
    settings: Settings,
    *,
    upstream: UpstreamClient | None = None,
    providers: dict[str, Provider] | None = None,
    budget_factory: BudgetFactory | None = None,
) -> Litestar:
    """Build the app. ``upstream``/``providers`` replace the network seam in tests."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (the CLI resolves the embedded server)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(
            settings, upstream=upstream, providers=providers, budget_factory=budget_factory
        ) as services:
            app.state.services = services
            yield

    return Litestar(
        route_handlers=[
            chat_completions,
            messages,
            list_models,
            healthz,
            readyz,
            metrics,
            *admin_routes.ROUTES,
            *report_routes.ROUTES,
            *router_routes.ROUTES,
        ],
        lifespan=[lifespan],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="LLM Gateway", version="0.1.0", path="/schema"),
        logging_config=None,
    )

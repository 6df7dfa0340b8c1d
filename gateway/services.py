"""The collaborators one app instance owns, built once by the lifespan and not changed after.

Handlers receive them through ``app.state.services``; nothing is a module global, so
tests can build an app with their own upstream client or provider set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from gateway.auth.jwt import JWTVerifier
from gateway.auth.resolver import PrincipalResolver
from gateway.catalog import Catalog
from gateway.config import GatewayConfig, ProviderEntry
from gateway.limits.auth_throttle import AuthThrottle
from gateway.metrics import Metrics
from gateway.observe.tracing import NoTracing, Tracing
from gateway.pipeline.admission import Admission
from gateway.pipeline.attempt import Attempt
from gateway.pipeline.conversations import ConversationGate
from gateway.pipeline.strategy import Strategy
from gateway.policy.budget import BudgetGuard
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Provider
from gateway.providers.openai import OpenAIProvider
from gateway.providers.registry import build_configured, price_prefix
from gateway.providers.simulator import SimulatorProvider
from gateway.providers.upstream import UpstreamClient
from gateway.resilience.attempts import RetryPolicy
from gateway.resilience.circuit import CircuitPolicy
from gateway.resilience.deployments import Deployment
from gateway.routing.store import RouterConfigStore
from gateway.settings import Settings
from gateway.store.queue import WriteQueue
from gateway.tokens import TokenCounter
from pricing import ModelPrice, PriceTable

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Services:
    settings: Settings
    config: GatewayConfig
    pool: AsyncConnectionPool[Any]
    catalog: Catalog
    providers: dict[str, Provider]
    prices: dict[str, ModelPrice | None]
    resolver: PrincipalResolver
    jwt: JWTVerifier
    queue: WriteQueue
    metrics: Metrics
    router_store: RouterConfigStore
    budget: BudgetGuard
    admission: Admission
    attempt: Attempt
    strategies: dict[str, Strategy]
    conversations: ConversationGate
    database_url: str
    loop: asyncio.AbstractEventLoop
    # Failed-authentication throttling per client address (issue 11); off unless given.
    auth_throttle: AuthThrottle = field(default_factory=lambda: AuthThrottle(0))
    # Long-running tasks other collaborators start (e.g. the alert mailer); the lifespan
    # cancels them at shutdown.
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # Offline tokenizers for POST /v1/messages/count_tokens, loaded on first use.
    token_counter: TokenCounter = field(default_factory=TokenCounter)
    # Spans for the pipeline; NoTracing (nothing at all) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
    tracing: Tracing = field(default_factory=NoTracing)
    # Resilience: each catalog model's deployments (their circuits are per-process state).
    deployments: dict[str, list[Deployment]] = field(default_factory=dict)
    # Run at shutdown after the write queue drained (e.g. budget leases given back).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


_PROVIDER_CLASSES: dict[str, type[OpenAIProvider] | type[AnthropicProvider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
}


def build_providers(settings: Settings, config: GatewayConfig, client: UpstreamClient) -> dict[str, Provider]:
    """The provider set: the two built-ins (or the simulator in their place) plus configured ones."""
    providers: dict[str, Provider] = {}
    sim = settings.simulator
    if settings.anthropic_api_key or sim == "off":
        providers["anthropic"] = AnthropicProvider(
            "anthropic", settings.anthropic_base_url, settings.anthropic_api_key, client
        )
    else:
        log.warning("ANTHROPIC_API_KEY is not set: Anthropic models are served by the built-in SIMULATOR")
        providers["anthropic"] = SimulatorProvider("anthropic", "anthropic")
    if settings.openai_api_key or sim == "off":
        providers["openai"] = OpenAIProvider(
            "openai", settings.openai_base_url, settings.openai_api_key, client, responses_api=True
        )
    else:
        log.warning("OPENAI_API_KEY is not set: OpenAI models are served by the built-in SIMULATOR")
        providers["openai"] = SimulatorProvider("openai", "openai")
    if sim == "on":
        log.warning("GATEWAY_SIMULATOR=on: the 'simulator' provider is registered")
        providers["simulator"] = SimulatorProvider("simulator", "openai")
    for name, entry in config.providers.items():
        providers[name] = build_configured(name, entry, client)
    return providers


def provider_specs(settings: Settings, config: GatewayConfig) -> dict[str, ProviderEntry]:
    """How each network provider is reached, so a deployment can inherit what it does not set."""
    specs = {
        "anthropic": ProviderEntry("anthropic", settings.anthropic_base_url, settings.anthropic_api_key),
        "openai": ProviderEntry("openai", settings.openai_base_url, settings.openai_api_key),
    }
    specs.update(config.providers)
    return specs


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        budget_s=settings.retry_budget_s,
        backoff_base_s=settings.retry_backoff_base_s,
        backoff_max_s=settings.retry_backoff_max_s,
        max_wait_s=settings.retry_max_wait_s,
    )


def circuit_policy(settings: Settings) -> CircuitPolicy:
    return CircuitPolicy(
        failures=settings.circuit_failures,
        failure_rate=settings.circuit_failure_rate,
        window_s=settings.circuit_window_s,
        min_requests=settings.circuit_min_requests,
        cooldown_s=settings.circuit_cooldown_s,
    )


def build_prices(catalog: Catalog, config: GatewayConfig) -> dict[str, ModelPrice | None]:
    """Each catalog model's price, resolved once; models without one are logged at start."""
    overrides = {
        key: ModelPrice(
            input=p.input,
            output=p.output,
            cache_write=p.cache_write if p.cache_write is not None else p.input,
            cache_read=p.cache_read if p.cache_read is not None else p.input,
        )
        for key, p in config.prices.items()
    }
    table = PriceTable.load(overrides=overrides)
    prices: dict[str, ModelPrice | None] = {}
    for m in catalog.models():
        entry = config.providers.get(m.provider)
        prefix = price_prefix(entry) if entry is not None and not m.price_key else ""
        # A preset's or cloud's models are filed under its prefix in litellm's map (Azure's and
        # Vertex's prices may differ from the first-party ones), so that key is tried first.
        price = table.get(m.id) or (table.get(prefix + m.upstream) if prefix else None)
        price = price or table.get(m.price_key or m.upstream)
        if price is None:
            log.warning("no price known for model %s: its cost is recorded as 0", m.id)
        prices[m.id] = price
    return prices

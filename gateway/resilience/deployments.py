"""Deployments: the places that serve one catalog model, and how one is picked.

A model without ``[[deployments]]`` in ``GATEWAY_CONFIG`` has one implicit deployment, its
provider (named after it). Configured deployments replace it: list the provider itself as a
deployment to keep it in the pool.

Selection is weighted least-loaded: among the deployments that may take a request now
(circuit not open, not cooling down after a ``Retry-After``, under their own limits), the one
with the fewest requests in flight per unit of weight wins; ties (the common case at light
load) are broken at random in proportion to weight. So traffic follows the weights when idle
and load evens out by weight when busy.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.catalog import Catalog
from gateway.config import ConfigError, DeploymentEntry, GatewayConfig, ProviderEntry
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Provider
from gateway.providers.openai import OpenAIProvider
from gateway.providers.upstream import UpstreamClient
from gateway.resilience.circuit import CircuitBreaker, CircuitPolicy


@dataclass(slots=True)
class Deployment:
    """One deployment of one model, with its per-process state."""

    name: str
    model: str
    provider: Provider
    upstream: str
    circuit: CircuitBreaker
    weight: float = 1.0
    max_parallel: int | None = None
    rpm: int | None = None
    in_flight: int = 0
    # Monotonic time before which this deployment is not sent a request (a provider's Retry-After).
    not_before: float = 0.0
    # Fixed one-minute window for ``rpm``: (window start, requests in it).
    _minute: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def ready(self, now: float) -> bool:
        """True when this deployment may take a request at ``now``."""
        if now < self.not_before or not self.circuit.available(now):
            return False
        if self.max_parallel is not None and self.in_flight >= self.max_parallel:
            return False
        if self.rpm is not None:
            start, count = self._minute
            if now - start < 60.0 and count >= self.rpm:
                return False
        return True

    def begin(self, now: float) -> bool:
        """Claim a slot for one request; False if the circuit refused (a half-open probe is out)."""
        if not self.circuit.acquire(now):
            return False
        self.in_flight += 1
        if self.rpm is not None:
            if now - self._minute[0] >= 60.0:
                self._minute[0], self._minute[1] = now, 0.0
            self._minute[1] += 1
        return True

    def take(self, now: float) -> bool:
        """``ready`` and ``begin`` at once for a plain deployment with a closed circuit.

        False means only "not the plain case" (limits of its own, a cool-down, a circuit not
        closed): the caller then goes through ``pick`` and ``begin``.
        """
        if (
            self.max_parallel is None
            and self.rpm is None
            and now >= self.not_before
            and self.weight > 0
            and self.circuit.is_closed()
        ):
            self.in_flight += 1
            return True
        return False

    def end(self, now: float, *, ok: bool | None) -> None:
        """The request ended: ``ok`` True/False is a verdict for the circuit, None is none."""
        self.in_flight = max(0, self.in_flight - 1)
        if ok is None:
            self.circuit.release()
        else:
            self.circuit.record(now, ok=ok)

    def settled(self, ok: bool | None) -> None:
        """``end`` now (the running loop's clock): what settlement calls for the deployment that served."""
        self.end(asyncio.get_running_loop().time(), ok=ok)

    def reset(self) -> None:
        """Forget the per-process state (circuit, cool-down, rate window), as a restart would."""
        self.circuit.reset()
        self.not_before = 0.0
        self._minute[0], self._minute[1] = 0.0, 0.0

    def cool_down(self, now: float, seconds: float) -> None:
        """Do not send this deployment anything for ``seconds`` (the provider asked)."""
        self.not_before = max(self.not_before, now + seconds)


def pick(
    deployments: Sequence[Deployment], now: float, exclude: Iterable[str] = (), rng: random.Random | None = None
) -> Deployment | None:
    """The deployment to try next, or None when none may take a request now."""
    if len(deployments) == 1:  # the common case: a model's one implicit deployment
        d = deployments[0]
        return d if d.weight > 0 and d.name not in exclude and d.ready(now) else None
    skip = set(exclude)
    best: list[Deployment] = []
    best_load = 0.0
    for d in deployments:
        if d.name in skip or d.weight <= 0 or not d.ready(now):
            continue
        load = d.in_flight / d.weight
        if not best or load < best_load:
            best, best_load = [d], load
        elif load == best_load:
            best.append(d)
    if not best:
        return None
    if len(best) == 1:
        return best[0]
    return (rng or random).choices(best, weights=[d.weight for d in best])[0]


def earliest_ready(deployments: Sequence[Deployment], now: float) -> float | None:
    """When the first deployment held back only by a ``Retry-After`` becomes usable again."""
    times = [d.not_before for d in deployments if d.not_before > now and d.circuit.available(d.not_before)]
    return min(times) if times else None


def _provider_for(entry: DeploymentEntry, base: ProviderEntry | None, client: UpstreamClient) -> Provider:
    dialect = entry.dialect or (base.dialect if base else None)
    base_url = entry.base_url or (base.base_url if base else None)
    api_key = entry.api_key if entry.api_key is not None else (base.api_key if base else None)
    if dialect is None or base_url is None:
        raise ConfigError(
            f"deployment '{entry.name}' of model '{entry.model}' needs a base_url and dialect, "
            "or a provider with a base URL to inherit them from"
        )
    if dialect == "openai":
        return OpenAIProvider(entry.name, base_url, api_key, client)
    return AnthropicProvider(entry.name, base_url, api_key, client)


def build_deployments(
    catalog: Catalog,
    providers: dict[str, Provider],
    specs: dict[str, ProviderEntry],
    config: GatewayConfig,
    client: UpstreamClient,
    policy: CircuitPolicy,
) -> dict[str, list[Deployment]]:
    """Every catalog model's deployments (the implicit one where none is configured).

    ``providers`` are the live provider objects by name; ``specs`` how each network provider
    is reached (dialect, base URL, key), so a deployment can inherit what it does not set.
    """
    configured: dict[str, list[DeploymentEntry]] = {}
    for entry in config.deployments:
        if catalog.get(entry.model) is None:
            raise ConfigError(f"deployment '{entry.name}' names model '{entry.model}', which is not in the catalog")
        if entry.weight < 0:
            raise ConfigError(f"deployment '{entry.name}' of model '{entry.model}': weight must be >= 0")
        if entry.provider is not None and entry.provider not in providers:
            raise ConfigError(f"deployment '{entry.name}' names provider '{entry.provider}', which is not configured")
        same = configured.setdefault(entry.model, [])
        if any(e.name == entry.name for e in same):
            raise ConfigError(f"model '{entry.model}' has two deployments named '{entry.name}'")
        same.append(entry)
    out: dict[str, list[Deployment]] = {}
    for model in catalog.models():
        entries = configured.get(model.id)
        if not entries:
            default = providers.get(model.provider)
            if default is not None:
                out[model.id] = [Deployment(model.provider, model.id, default, model.upstream, CircuitBreaker(policy))]
            continue
        deps: list[Deployment] = []
        for e in entries:
            inherit = e.provider or model.provider
            if e.dialect is None and e.base_url is None and e.api_key is None and inherit in providers:
                # Just a provider (the model's own, or another one): share its object.
                provider = providers[inherit]
            else:
                provider = _provider_for(e, specs.get(inherit), client)
            deps.append(
                Deployment(
                    e.name,
                    model.id,
                    provider,
                    e.upstream or model.upstream,
                    CircuitBreaker(policy),
                    weight=e.weight,
                    max_parallel=e.max_parallel,
                    rpm=e.rpm,
                )
            )
        out[model.id] = deps
    return out

"""Every setting the gateway reads, in one place.

The environment is read here and nowhere else (``Settings.from_env``). Everything
downstream receives a ``Settings`` value; nothing reads ``os.environ`` on its own.
The optional ``GATEWAY_CONFIG`` TOML file (model catalog, price overrides, router
defaults) is decoded by ``gateway.config`` with unknown fields refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Process settings. New fields always get defaults."""

    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    config_path: str | None = None
    data_dir: str = ".gateway"

    anthropic_api_key: str | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    # "auto": the simulator serves when no provider key is set (and the log says so);
    # "on": always registered; "off": never (production).
    simulator: str = "auto"

    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    sendgrid_api_key: str | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    email_from: str = "gateway@localhost"

    max_body_bytes: int = 4 * 1024 * 1024
    upstream_timeout_s: float = 600.0
    upstream_connect_timeout_s: float = 10.0
    principal_cache_ttl_s: float = 30.0
    write_queue_max: int = 50_000
    write_batch_max: int = 500
    write_flush_interval_s: float = 0.05
    log_level: str = "INFO"
    # One line per proxied request on the "gateway.access" logger (GATEWAY_ACCESS_LOG).
    access_log: bool = False

    # Limits (issue 11).
    redis_url: str | None = None
    redis_prefix: str = "gw:"
    rate_limit_failure: str = "open"  # open | closed: what rate limits do when Redis is away
    auth_failures_per_min: int = 20  # failed authentications per client address (0 = no throttle)
    cache_stale_s: float = 600.0  # how long a cached principal may serve while revalidating
    budget_outage: str = "lease"  # lease | closed: budgets while the database is away
    budget_lease_fraction: float = 0.1
    budget_lease_ttl_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment (or a given mapping, for tests)."""
        e = os.environ if env is None else env

        def opt(name: str) -> str | None:
            value = e.get(name)
            return value if value else None

        def num(name: str, default: float) -> float:
            raw = opt(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError as exc:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from exc

        def flag(name: str) -> bool:
            raw = (opt(name) or "off").lower()
            if raw in ("1", "true", "on", "yes"):
                return True
            if raw in ("0", "false", "off", "no"):
                return False
            raise SettingsError(f"{name} must be on or off, got {raw!r}")

        simulator = (opt("GATEWAY_SIMULATOR") or "auto").lower()
        if simulator not in ("auto", "on", "off"):
            raise SettingsError(f"GATEWAY_SIMULATOR must be auto, on or off, got {simulator!r}")
        rate_failure = (opt("GATEWAY_RATE_LIMIT_FAILURE") or "open").lower()
        if rate_failure not in ("open", "closed"):
            raise SettingsError(f"GATEWAY_RATE_LIMIT_FAILURE must be open or closed, got {rate_failure!r}")
        outage = (opt("GATEWAY_BUDGET_OUTAGE") or "lease").lower()
        if outage not in ("lease", "closed"):
            raise SettingsError(f"GATEWAY_BUDGET_OUTAGE must be lease or closed, got {outage!r}")
        fraction = num("GATEWAY_BUDGET_LEASE_FRACTION", 0.1)
        if not 0 < fraction <= 1:
            raise SettingsError(f"GATEWAY_BUDGET_LEASE_FRACTION must be in (0, 1], got {fraction}")
        return cls(
            redis_url=opt("REDIS_URL"),
            redis_prefix=opt("GATEWAY_REDIS_PREFIX") or "gw:",
            rate_limit_failure=rate_failure,
            auth_failures_per_min=int(num("GATEWAY_AUTH_FAILURES_PER_MIN", 20)),
            cache_stale_s=num("GATEWAY_CACHE_STALE_S", 600.0),
            budget_outage=outage,
            budget_lease_fraction=fraction,
            budget_lease_ttl_s=num("GATEWAY_BUDGET_LEASE_TTL_S", 60.0),
            database_url=opt("DATABASE_URL"),
            host=opt("GATEWAY_HOST") or "127.0.0.1",
            port=int(num("GATEWAY_PORT", 8080)),
            workers=int(num("GATEWAY_WORKERS", 1)),
            config_path=opt("GATEWAY_CONFIG"),
            data_dir=opt("GATEWAY_DATA_DIR") or ".gateway",
            anthropic_api_key=opt("ANTHROPIC_API_KEY"),
            anthropic_base_url=(opt("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").rstrip("/"),
            openai_api_key=opt("OPENAI_API_KEY"),
            openai_base_url=(opt("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/"),
            simulator=simulator,
            jwt_secret=opt("GATEWAY_JWT_SECRET"),
            jwt_jwks_url=opt("GATEWAY_JWT_JWKS_URL"),
            jwt_issuer=opt("GATEWAY_JWT_ISSUER"),
            jwt_audience=opt("GATEWAY_JWT_AUDIENCE"),
            sendgrid_api_key=opt("SENDGRID_API_KEY"),
            sendgrid_base_url=(opt("SENDGRID_BASE_URL") or "https://api.sendgrid.com").rstrip("/"),
            email_from=opt("GATEWAY_EMAIL_FROM") or "gateway@localhost",
            max_body_bytes=int(num("GATEWAY_MAX_BODY_BYTES", 4 * 1024 * 1024)),
            upstream_timeout_s=num("GATEWAY_UPSTREAM_TIMEOUT_S", 600.0),
            principal_cache_ttl_s=num("GATEWAY_CACHE_TTL_S", 30.0),
            log_level=(opt("GATEWAY_LOG_LEVEL") or "INFO").upper(),
            access_log=flag("GATEWAY_ACCESS_LOG"),
        )

    @property
    def pgdata_dir(self) -> Path:
        return Path(self.data_dir) / "pgdata"

    @property
    def spool_dir(self) -> Path:
        return Path(self.data_dir) / "spool"


class SettingsError(ValueError):
    """A setting has a value the gateway cannot use."""


def export_database_url(url: str) -> None:
    """Hand a resolved database URL to worker processes started after this call.

    ``gateway serve --workers N`` resolves the embedded server once in the parent;
    the workers read it back through ``Settings.from_env``.
    """
    os.environ["DATABASE_URL"] = url

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
    # Where tiktoken's BPE files are (POST /v1/messages/count_tokens); None: the copies litellm ships.
    tiktoken_cache_dir: str | None = None
    # One line per proxied request on the "gateway.access" logger (GATEWAY_ACCESS_LOG).
    access_log: bool = False
    # Server read limits (the HTTP protocol, before any routing), with nginx-like defaults:
    # large_client_header_buffers 4 8k, client_header_timeout and client_body_timeout 60s.
    max_header_line_bytes: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    client_header_timeout_s: float = 60.0
    client_body_timeout_s: float = 60.0
    # On SIGTERM: seconds the server keeps finishing requests in flight before it stops
    # (the write queue flushes after); orchestrators' grace periods must be longer.
    shutdown_drain_s: int = 30
    log_format: str = "text"  # text | json (GATEWAY_LOG_FORMAT)
    # OpenTelemetry: traces are exported over OTLP/HTTP only when the endpoint is set.
    otel_endpoint: str | None = None
    otel_service_name: str = "llm-gateway"

    # Resilience (README, Resilience). Off: one attempt, no circuits, no keep-alives (the
    # bench's baseline for what the machinery costs).
    resilience: bool = True
    first_byte_timeout_s: float = 60.0
    stream_idle_timeout_s: float = 300.0
    request_timeout_s: float = 600.0
    keepalive_s: float = 15.0
    retry_max_attempts: int = 4
    retry_budget_s: float = 30.0
    retry_backoff_base_s: float = 0.25
    retry_backoff_max_s: float = 4.0
    retry_max_wait_s: float = 10.0
    circuit_failures: int = 5
    circuit_failure_rate: float = 0.5
    circuit_window_s: float = 30.0
    circuit_min_requests: int = 10
    circuit_cooldown_s: float = 15.0
    default_fallbacks: bool = True
    fallback_max_models: int = 2
    # Retry-After on the gateway's own 503s (database away, no deployment available).
    service_retry_after_s: float = 2.0

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

        def flag(name: str, default: bool) -> bool:
            raw = opt(name)
            if raw is None:
                return default
            value = raw.strip().lower()
            if value in ("1", "on", "true", "yes"):
                return True
            if value in ("0", "off", "false", "no"):
                return False
            raise SettingsError(f"{name} must be on or off, got {raw!r}")

        simulator = (opt("GATEWAY_SIMULATOR") or "auto").lower()
        if simulator not in ("auto", "on", "off"):
            raise SettingsError(f"GATEWAY_SIMULATOR must be auto, on or off, got {simulator!r}")
        log_format = (opt("GATEWAY_LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"GATEWAY_LOG_FORMAT must be text or json, got {log_format!r}")
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
            upstream_connect_timeout_s=num("GATEWAY_CONNECT_TIMEOUT_S", 10.0),
            resilience=flag("GATEWAY_RESILIENCE", True),
            first_byte_timeout_s=num("GATEWAY_FIRST_BYTE_TIMEOUT_S", 60.0),
            stream_idle_timeout_s=num("GATEWAY_STREAM_IDLE_TIMEOUT_S", 300.0),
            request_timeout_s=num("GATEWAY_REQUEST_TIMEOUT_S", 600.0),
            keepalive_s=num("GATEWAY_KEEPALIVE_S", 15.0),
            retry_max_attempts=max(1, int(num("GATEWAY_RETRY_MAX_ATTEMPTS", 4))),
            retry_budget_s=num("GATEWAY_RETRY_BUDGET_S", 30.0),
            retry_backoff_base_s=num("GATEWAY_RETRY_BACKOFF_BASE_S", 0.25),
            retry_backoff_max_s=num("GATEWAY_RETRY_BACKOFF_MAX_S", 4.0),
            retry_max_wait_s=num("GATEWAY_RETRY_MAX_WAIT_S", 10.0),
            circuit_failures=max(1, int(num("GATEWAY_CIRCUIT_FAILURES", 5))),
            circuit_failure_rate=num("GATEWAY_CIRCUIT_FAILURE_RATE", 0.5),
            circuit_window_s=num("GATEWAY_CIRCUIT_WINDOW_S", 30.0),
            circuit_min_requests=max(1, int(num("GATEWAY_CIRCUIT_MIN_REQUESTS", 10))),
            circuit_cooldown_s=num("GATEWAY_CIRCUIT_COOLDOWN_S", 15.0),
            default_fallbacks=flag("GATEWAY_DEFAULT_FALLBACKS", True),
            fallback_max_models=max(0, int(num("GATEWAY_FALLBACK_MAX_MODELS", 2))),
            service_retry_after_s=num("GATEWAY_SERVICE_RETRY_AFTER_S", 2.0),
            principal_cache_ttl_s=num("GATEWAY_CACHE_TTL_S", 30.0),
            log_level=(opt("GATEWAY_LOG_LEVEL") or "INFO").upper(),
            tiktoken_cache_dir=opt("TIKTOKEN_CACHE_DIR"),
            access_log=flag("GATEWAY_ACCESS_LOG", False),
            max_header_line_bytes=int(num("GATEWAY_MAX_HEADER_LINE_BYTES", 8 * 1024)),
            max_header_bytes=int(num("GATEWAY_MAX_HEADER_BYTES", 32 * 1024)),
            max_header_count=int(num("GATEWAY_MAX_HEADER_COUNT", 100)),
            client_header_timeout_s=num("GATEWAY_CLIENT_HEADER_TIMEOUT_S", 60.0),
            client_body_timeout_s=num("GATEWAY_CLIENT_BODY_TIMEOUT_S", 60.0),
            shutdown_drain_s=int(num("GATEWAY_SHUTDOWN_DRAIN_S", 30)),
            log_format=log_format,
            otel_endpoint=opt("OTEL_EXPORTER_OTLP_ENDPOINT"),
            otel_service_name=opt("OTEL_SERVICE_NAME") or "llm-gateway",
        )

    def __post_init__(self) -> None:
        for name in ("max_header_line_bytes", "max_header_bytes", "max_header_count"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("client_header_timeout_s", "client_body_timeout_s"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be a positive number of seconds, got {getattr(self, name)}")

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

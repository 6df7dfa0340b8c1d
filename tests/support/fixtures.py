"""Fixtures for tests that drive the real server: a mock provider and the gateway on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway import accounts
from gateway.http.app import create_app
from gateway.model_tier import MODEL_TIERS
from gateway.settings import Settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


@pytest.fixture(scope="session")
def mock_provider() -> Iterator[MockUpstream]:
    mock = MockUpstream().start()
    yield mock
    mock.stop()


@pytest.fixture
def upstream(mock_provider: MockUpstream) -> MockUpstream:
    """The mock provider, reset to its default behaviour for this test."""
    mock_provider.reset()
    return mock_provider


def gateway_settings(db_url: str, mock: MockUpstream, data_dir: Path, **overrides: object) -> Settings:
    base = Settings(
        database_url=db_url,
        data_dir=str(data_dir),
        anthropic_api_key="test-anthropic-key",
        anthropic_base_url=mock.anthropic_base,
        openai_api_key="test-openai-key",
        openai_base_url=mock.openai_base,
        simulator="off",
        principal_cache_ttl_s=0.5,
        write_flush_interval_s=0.01,
        # The shared server answers each scripted failure once, as the tests that script one
        # expect, and its circuits never open (their state would leak from test to test).
        # tests/resilience drives retries, fallbacks and circuits on servers of its own.
        retry_max_attempts=1,
        default_fallbacks=False,
        circuit_failures=1_000_000,
        circuit_min_requests=1_000_000,
        # Tests change policy behind the gateway's back and expect it after the TTL, and many
        # send bad credentials from one address: the tests of those features turn them on.
        cache_stale_s=0.0,
        auth_failures_per_min=0,
    )
    import msgspec

    return msgspec.structs.replace(base, **overrides)


@pytest.fixture(scope="session")
def gateway(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """The real gateway serving on loopback against the test database and the mock provider."""
    settings = gateway_settings(migrated_db_url, mock_provider, tmp_path_factory.mktemp("gwdata"))
    server = GatewayServer(create_app(settings)).start()
    yield server
    server.stop()


@pytest.fixture
def org(db_url: str) -> accounts.BootstrapResult:
    """A fresh organization (all tiers) with an owner and an API key."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        return accounts.bootstrap(conn, org="Acme", email="owner@acme.test", role="owner", tiers=list(MODEL_TIERS))

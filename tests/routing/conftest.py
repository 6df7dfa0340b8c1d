"""Gateway servers for the AUTO-mode tests.

Two independent server processes-in-threads share the test database, so a change made
through one must reach the other through PostgreSQL NOTIFY, as between real replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway import accounts
from gateway.http.app import create_app
from gateway.model_tier import MODEL_TIERS
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _server(db_url: str, mock: MockUpstream, data_dir: Path) -> GatewayServer:
    return GatewayServer(create_app(gateway_settings(db_url, mock, data_dir))).start()


@pytest.fixture(scope="module")
def router_gw(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    server = _server(migrated_db_url, mock_provider, tmp_path_factory.mktemp("gw-a"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def second_gw(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    server = _server(migrated_db_url, mock_provider, tmp_path_factory.mktemp("gw-b"))
    yield server
    server.stop()


def add_user(db_url: str, org: str, email: str, role: str) -> accounts.BootstrapResult:
    """Another user (and API key) in organization ``org`` (created if missing)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        return accounts.bootstrap(conn, org=org, email=email, role=role, tiers=list(MODEL_TIERS))

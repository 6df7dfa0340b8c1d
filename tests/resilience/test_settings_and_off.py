"""Resilience settings from the environment, and the gateway with resilience switched off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import psycopg
import pytest

from gateway import accounts
from gateway.http.app import create_app
from gateway.model_tier import MODEL_TIERS
from gateway.settings import Settings, SettingsError
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream, Script
from tests.support.server import GatewayServer


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            "GATEWAY_RESILIENCE": "off",
            "GATEWAY_RETRY_MAX_ATTEMPTS": "2",
            "GATEWAY_FIRST_BYTE_TIMEOUT_S": "1.5",
            "GATEWAY_DEFAULT_FALLBACKS": "no",
            "GATEWAY_CONNECT_TIMEOUT_S": "3",
        }
    )
    assert (s.resilience, s.retry_max_attempts, s.first_byte_timeout_s, s.default_fallbacks) == (False, 2, 1.5, False)
    assert s.upstream_connect_timeout_s == 3.0
    assert Settings.from_env({}).resilience is True
    with pytest.raises(SettingsError, match="GATEWAY_RESILIENCE"):
        Settings.from_env({"GATEWAY_RESILIENCE": "maybe"})


@pytest.fixture(scope="module")
def off_server(
    migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayServer, MockUpstream]]:
    mock = MockUpstream().start()
    root: Path = tmp_path_factory.mktemp("off")
    gw = GatewayServer(create_app(gateway_settings(migrated_db_url, mock, root, resilience=False))).start()
    yield gw, mock
    gw.stop()
    mock.stop()


def test_off_means_one_attempt_and_no_deployments(off_server: tuple[GatewayServer, MockUpstream], db_url: str) -> None:
    gw, mock = off_server
    mock.reset()
    with psycopg.connect(db_url, autocommit=True) as conn:
        key = accounts.bootstrap(conn, org="Off", email="o@off.test", role="owner", tiers=list(MODEL_TIERS)).api_key
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    ok = client.chat.completions.with_raw_response.create(model="gpt-5.4", messages=[{"role": "user", "content": "x"}])
    assert ok.http_response.status_code == 200 and "x-gateway-attempts" not in ok.headers
    assert gw.services.deployments == {}
    mock.scripts.append(Script(status=500, body={"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 502
    assert len(mock.requests) == 2  # the 500 was not retried

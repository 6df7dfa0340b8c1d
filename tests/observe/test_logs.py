"""JSON logs and request ids on every line."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from gateway.observe.logs import configure_logging, request_id
from gateway.settings import Settings, SettingsError
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_the_request_id_and_extra_fields(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    log = logging.getLogger("gateway.test")
    token = request_id.set("req-123")
    try:
        log.warning("upstream failure provider=%s", "openai", extra={"provider": "openai", "upstream_status": 503})
    finally:
        request_id.reset(token)
    log.info("outside any request")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "upstream failure provider=openai" and first["level"] == "WARNING"
    assert first["request_id"] == "req-123" and first["provider"] == "openai" and first["upstream_status"] == 503
    assert first["logger"] == "gateway.test" and first["time"].endswith("+00:00")
    assert second["request_id"] is None


def test_text_lines_name_the_request(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    token = request_id.set("req-9")
    try:
        logging.getLogger("gateway.test").info("hello")
    finally:
        request_id.reset(token)
    assert out.getvalue().rstrip().endswith("hello request_id=req-9")


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"GATEWAY_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="GATEWAY_LOG_FORMAT"):
        Settings.from_env({"GATEWAY_LOG_FORMAT": "xml"})
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}).otel_endpoint == "http://c:4318"


def test_access_log_line_per_proxied_request(
    migrated_db_url: str, upstream: MockUpstream, org: BootstrapResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = gateway_settings(migrated_db_url, upstream, tmp_path, access_log=True)
    server = GatewayServer(create_app(settings)).start()
    try:
        with caplog.at_level(logging.INFO, logger="gateway.access"):
            ok = httpx.post(
                server.url + "/v1/chat/completions",
                headers={"authorization": f"Bearer {org.api_key}"},
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            )
            bad = httpx.post(server.url + "/v1/messages", json={})
            deadline = time.monotonic() + 5
            while len([r for r in caplog.records if r.name == "gateway.access"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        server.stop()
    lines = {r.request_id: r for r in caplog.records if r.name == "gateway.access"}  # type: ignore[attr-defined]
    assert lines[ok.headers["x-request-id"]].status == 200  # type: ignore[attr-defined]
    assert lines[ok.headers["x-request-id"]].endpoint == "chat"  # type: ignore[attr-defined]
    assert lines[bad.headers["x-request-id"]].status == 401  # type: ignore[attr-defined]
    assert Settings.from_env({"GATEWAY_ACCESS_LOG": "1"}).access_log is True
    assert Settings.from_env({}).access_log is False


def test_every_route_answers_with_a_request_id(gateway: GatewayServer, org: BootstrapResult) -> None:
    ok = httpx.get(gateway.url + "/v1/keys", headers={"authorization": f"Bearer {org.api_key}"})
    refused = httpx.get(gateway.url + "/v1/keys")
    unknown = httpx.get(gateway.url + "/v1/nothing-here")
    ids = [r.headers.get("x-request-id") for r in (ok, refused, unknown)]
    assert [ok.status_code, refused.status_code, unknown.status_code] == [200, 401, 404]
    assert all(ids) and len(set(ids)) == 3


def test_request_ids_are_version_4_uuids_and_do_not_repeat() -> None:
    import uuid

    from gateway.observe.request_id import new_request_id

    seen = set()
    for _ in range(20_000):
        rid = new_request_id()
        parsed = uuid.UUID(rid)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == rid
        seen.add(rid)
    assert len(seen) == 20_000

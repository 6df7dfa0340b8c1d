"""JSON logs and request ids on every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.observe.logs import configure_logging, request_id
from gateway.settings import Settings, SettingsError


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

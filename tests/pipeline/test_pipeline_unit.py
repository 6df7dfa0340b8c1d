"""The pipeline without a server: scripted providers at the upstream seam, an in-memory door,
the real services on the test's PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.http.app import open_services
from gateway.pipeline.codecs import ANTHROPIC_MESSAGES, OPENAI_CHAT
from gateway.pipeline.handle import handle
from gateway.pipeline.resolve import Resolved
from gateway.pipeline.strategy import Exchange, SingleStrategy, Strategy
from gateway.policy.lease_guard import LeaseBudgetGuard
from gateway.services import Services
from gateway.settings import Settings, SettingsError
from tests.pipeline.harness import MemoryDoor, Reply, ScriptedProvider, run
from tests.policy.helpers import add_spend, budget
from tests.support.mock_upstream import anthropic_message, anthropic_stream_events, openai_completion

USER = [{"role": "user", "content": "hi"}]
USAGE = {"input_tokens": 10, "output_tokens": 5}


def _settings(db_url: str, tmp: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=str(tmp), simulator="off", write_flush_interval_s=0.01)


class Harness:
    def __init__(self, services: Services, anthropic: ScriptedProvider, openai: ScriptedProvider) -> None:
        self.services = services
        self.anthropic = anthropic
        self.openai = openai

    async def usage(self, db_url: str) -> list[dict[str, Any]]:
        await self.services.queue.wait_idle()
        with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return list(
                cur.execute(
                    "SELECT request_id::text, model, status, completion_tokens, usage_estimated, request_type "
                    "FROM llm_usage ORDER BY created_at, request_id"
                )
            )


async def _harness(db_url: str, tmp: Path, strategies: dict[str, Strategy] | None = None) -> AsyncIterator[Harness]:
    anthropic = ScriptedProvider("anthropic", "anthropic")
    openai = ScriptedProvider("openai", "openai")
    async with open_services(
        _settings(db_url, tmp), providers={"anthropic": anthropic, "openai": openai}, strategies=strategies
    ) as services:
        yield Harness(services, anthropic, openai)


@pytest.fixture
async def h(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(db_url, tmp_path):
        yield harness


async def test_whole_answer_passes_through_and_is_recorded(h: Harness, org: BootstrapResult, db_url: str) -> None:
    h.anthropic.replies.append(Reply.json(anthropic_message("hello", "claude-haiku-4-5", USAGE)))
    door = await run(
        h.services, ANTHROPIC_MESSAGES, org.api_key, {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    )
    assert door.status == 200 and door.json()["content"][0]["text"] == "hello"
    assert door.response_headers["x-gateway-model"] == "claude-haiku-4-5"
    assert h.anthropic.sent[0].body["max_tokens"] == 20
    [row] = await h.usage(db_url)
    assert (row["status"], row["completion_tokens"], row["request_type"]) == ("success", 5, "chat")
    assert row["request_id"] == door.response_headers["x-request-id"]


async def test_request_type_is_recorded_and_checked(h: Harness, org: BootstrapResult, db_url: str) -> None:
    h.openai.replies.append(Reply.json(openai_completion("hi", "gpt-4o-mini", 3, 2)))
    body = {"model": "gpt-4o-mini", "messages": USER}
    door = await run(h.services, OPENAI_CHAT, org.api_key, body, **{"x-request-type": "second-opinion"})
    assert door.status == 200
    bad = await run(h.services, OPENAI_CHAT, org.api_key, body, **{"x-request-type": "battle"})
    assert bad.status == 400
    err = bad.json()["error"]
    assert err["param"] == "X-Request-Type" and "chat, arena, second-opinion" in err["message"]
    assert [r["request_type"] for r in await h.usage(db_url)] == ["second-opinion"]


async def test_openai_stream_without_done_is_an_error(h: Harness, org: BootstrapResult, db_url: str) -> None:
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
    h.openai.replies.append(Reply.stream([chunk]))
    door = await run(h.services, OPENAI_CHAT, org.api_key, {"model": "gpt-4o-mini", "messages": USER, "stream": True})
    assert door.status == 200 and b"partial" in door.streamed
    assert b'"error"' in door.frames[-1] and door.streamed.endswith(b"data: [DONE]\n\n")
    [row] = await h.usage(db_url)
    assert row["status"] == "error"


async def test_anthropic_stream_without_message_stop_is_an_error(h: Harness, org: BootstrapResult, db_url: str) -> None:
    frames = anthropic_stream_events("one two three", "claude-haiku-4-5", USAGE)
    h.anthropic.replies.append(Reply.stream([f for f in frames if b"message_stop" not in f]))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER, "stream": True}
    door = await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body)
    assert door.frames[-1].startswith(b"event: error\n")
    [row] = await h.usage(db_url)
    assert row["status"] == "error"


async def test_html_answer_to_a_stream_is_an_error(h: Harness, org: BootstrapResult, db_url: str) -> None:
    h.openai.replies.append(Reply(body=b"<html>bad gateway</html>", content_type="text/html"))
    door = await run(h.services, OPENAI_CHAT, org.api_key, {"model": "gpt-4o-mini", "messages": USER, "stream": True})
    assert door.status == 502
    assert "text/html" in door.json()["error"]["message"]
    [row] = await h.usage(db_url)
    assert row["status"] == "error"


async def test_truncated_anthropic_stream_is_billed_from_the_deltas(
    h: Harness, org: BootstrapResult, db_url: str
) -> None:
    text = " ".join(f"word{i}" for i in range(150))
    frames = anthropic_stream_events(text, "claude-haiku-4-5", {"input_tokens": 10, "output_tokens": 150})
    # The stream breaks before message_delta (the final usage) and message_stop.
    h.anthropic.replies.append(Reply.stream([f for f in frames if b"message_delta" not in f and b"stop" not in f]))
    body = {"model": "claude-haiku-4-5", "max_tokens": 400, "messages": USER, "stream": True}
    await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body)
    [row] = await h.usage(db_url)
    assert row["status"] == "error"
    assert row["usage_estimated"] is True
    assert row["completion_tokens"] >= len(text) // 4  # not message_start's 1


async def test_client_leaving_a_non_stream_request_cancels_the_upstream_call(
    h: Harness, org: BootstrapResult, db_url: str
) -> None:
    h.anthropic.replies.append(Reply.json(anthropic_message("late", "claude-haiku-4-5", USAGE)))
    h.anthropic.replies[0].hang = True
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    door = MemoryDoor(msgspec.json.encode(body), {"authorization": f"Bearer {org.api_key}"})
    served = asyncio.ensure_future(handle(h.services, ANTHROPIC_MESSAGES, door))
    await asyncio.wait_for(h.anthropic.answered.wait(), 5)
    door.gone.set()
    await asyncio.wait_for(served, 5)
    assert door.status is None  # nothing was sent to a client that left
    [row] = await h.usage(db_url)
    assert row["status"] == "cancelled"


async def test_provider_defined_client_headers_are_forwarded_and_credentials_are_not(
    h: Harness, org: BootstrapResult
) -> None:
    h.anthropic.replies.append(Reply.json(anthropic_message("ok", "claude-haiku-4-5", USAGE)))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    headers = {"anthropic-beta": "prompt-caching-2024-07-31", "openai-organization": "org-x"}
    door = await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body, **headers)
    assert door.status == 200
    assert h.anthropic.sent[0].headers == {"anthropic-beta": "prompt-caching-2024-07-31"}


async def test_max_tokens_beyond_the_model_limit_is_a_400(h: Harness, org: BootstrapResult) -> None:
    for value in (2**64, 10**30, 64_001):
        body = {"model": "claude-haiku-4-5", "max_tokens": value, "messages": USER}
        door = await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body)
        assert door.status == 400, door.body
        assert "max_tokens" in door.json()["error"]["message"]
    door = await run(
        h.services, OPENAI_CHAT, org.api_key, {"model": "gpt-4o-mini", "max_tokens": 20_000, "messages": USER}
    )
    assert door.status == 400
    err = door.json()["error"]
    assert err["param"] == "max_tokens" and "16384" in err["message"]
    assert not h.openai.sent and not h.anthropic.sent


async def test_an_unexpected_error_after_admission_settles_once_and_releases_the_hold(
    h: Harness, org: BootstrapResult, db_url: str, conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 95_000)  # near the limit: a strict reservation
    h.anthropic.replies.append(Reply(status=200, body=b"not json at all", content_type="application/json"))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    door = await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body)
    assert door.status == 502 and door.json()["type"] == "error"
    assert "127.0.0.1" not in door.body.decode() and "DecodeError" not in door.body.decode()
    failures = [r for r in caplog.records if r.name == "gateway.pipeline.attempt"]
    assert len(failures) == 1 and getattr(failures[0], "reason", None) == "upstream_bad_response"
    rows = [r for r in await h.usage(db_url) if r["request_id"] == door.response_headers["x-request-id"]]
    assert [r["status"] for r in rows] == ["error"]
    await h.services.queue.wait_idle()
    open_rows = conn.execute("SELECT count(*) FROM gateway_budget_reservations WHERE released_at IS NULL").fetchone()
    assert open_rows == (0,)
    guard = h.services.budget
    assert isinstance(guard, LeaseBudgetGuard) and guard.inflight_millicents(org.organization_id) == 0


class _TwoCalls:
    """A strategy that asks a second model too (as cascade and parallel strategies will)."""

    name = "two"

    async def run(self, x: Exchange) -> None:
        second = x.services.catalog.get("claude-sonnet-4-5")
        assert second is not None
        resolved = Resolved(second, x.services.providers["anthropic"], "standard")
        extra = await x.add_call(resolved, 20)
        resp = await x.attempt(extra, x.body)
        await resp.read()
        x.settlement.settle(extra, status="success", usage={"input_tokens": 4, "output_tokens": 2})
        await SingleStrategy().run(x)


async def test_every_model_call_of_a_request_gets_its_own_usage_row(
    db_url: str, tmp_path: Path, org: BootstrapResult
) -> None:
    async for h in _harness(db_url, tmp_path, strategies={"single": _TwoCalls()}):
        for _ in range(2):
            h.anthropic.replies.append(Reply.json(anthropic_message("ok", "claude-haiku-4-5", USAGE)))
        body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
        door = await run(h.services, ANTHROPIC_MESSAGES, org.api_key, body)
        assert door.status == 200
        rows = await h.usage(db_url)
        assert sorted(r["model"] for r in rows) == ["claude-haiku-4-5", "claude-sonnet-4-5"]
        ids = {r["request_id"] for r in rows}
        assert len(ids) == 2 and door.response_headers["x-request-id"] in ids


async def test_access_log_is_off_by_default_and_one_line_per_request_when_on(
    db_url: str, tmp_path: Path, org: BootstrapResult, caplog: pytest.LogCaptureFixture
) -> None:
    assert Settings.from_env({}).access_log is False
    assert Settings.from_env({"GATEWAY_ACCESS_LOG": "on"}).access_log is True
    with pytest.raises(SettingsError):
        Settings.from_env({"GATEWAY_ACCESS_LOG": "sometimes"})
    provider = ScriptedProvider("anthropic", "anthropic")
    provider.replies.append(Reply.json(anthropic_message("ok", "claude-haiku-4-5", USAGE)))
    settings = msgspec.structs.replace(_settings(db_url, tmp_path), access_log=True)
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        async with open_services(settings, providers={"anthropic": provider}) as services:
            ok = await run(services, ANTHROPIC_MESSAGES, org.api_key, body)
            refused = await run(services, ANTHROPIC_MESSAGES, "gw_deadbeef_nope", body)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert len(lines) == 2, lines
    assert "status=200 model=claude-haiku-4-5" in lines[0] and ok.response_headers["x-request-id"] in lines[0]
    assert refused.status == 401 and "status=401 model=-" in lines[1]

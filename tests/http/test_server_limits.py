"""Server read limits (issue 9, defect 11) against a real ``gateway serve``, over raw sockets.

One server process for the module, started by the CLI exactly as in production (so the
protocol wiring in ``cmd_serve`` is what is tested), with short read timeouts so the slow
clients are cut within seconds. Each abuse gets its status (431/414/408) in the endpoint's
error dialect, or is closed; the server keeps serving, and its RSS stays bounded while
twenty connections each try to send a 16 MB header.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.settings import Settings, SettingsError
from tests.conftest import create_database, drop_database
from tests.support.server import free_port

pytestmark = pytest.mark.slow

HEADER_TIMEOUT_S = 1.5
BODY_TIMEOUT_S = 1.5
# Every wait below is bounded by this, far above the timeouts, so a loaded machine cannot
# make a test hang; no test asserts how long anything took.
DEADLINE_S = 60.0


class Served:
    def __init__(self, popen: subprocess.Popen[bytes], port: int, api_key: str) -> None:
        self.popen = popen
        self.port = port
        self.api_key = api_key

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        assert match, status
        return int(match.group(1))

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@pytest.fixture(scope="module")
def served(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = create_database(pg_admin_url)
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "ANTHROPIC_", "OPENAI_"))}
    env |= {
        "DATABASE_URL": url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_SIMULATOR": "on",
        "GATEWAY_DATA_DIR": str(log.parent / "data"),
        "GATEWAY_CLIENT_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "GATEWAY_CLIENT_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            assert popen.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        key = re.search(r"API key \(shown once\): (\S+)", log.read_text())
        assert key, log.read_text()
        yield Served(popen, port, key.group(1))
    finally:
        popen.terminate()
        popen.wait(30)
        drop_database(pg_admin_url, url)


def read_response(sock: socket.socket, pending: bytearray | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, headers, body by Content-Length) from ``sock``.

    ``pending`` carries bytes read past this response (pipelined answers) to the next call.
    """
    data = bytes(pending or b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    if pending is not None:
        pending[:] = body[length:]
    return status, headers, body[:length]


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ends the connection (EOF or reset) within the deadline."""
    sock.settimeout(DEADLINE_S)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def send_until_answered(sock: socket.socket, head: bytes, chunks: Iterator[bytes]) -> bool:
    """Send ``head`` then ``chunks`` until the server has something to say; True if it answered early."""
    sock.sendall(head)
    for chunk in chunks:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return True
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_a_normal_request_passes_and_keeps_the_connection(served: Served) -> None:
    with served.connect() as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nUser-Agent: t\r\n\r\n")
            status, headers, _ = read_response(sock)
            assert status == 200
            assert headers.get("connection") != "close"


def test_pipelined_requests_are_each_answered(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n" * 3)
        rest = bytearray()
        assert [read_response(sock, rest)[0] for _ in range(3)] == [200, 200, 200]
        assert not rest


def test_a_pipelined_head_does_not_cut_the_stream_before_it(served: Served) -> None:
    """A partial head sent behind a long stream times out only after that stream has ended."""
    prompt = "explain " * 600  # long enough for the simulator's longest answer (about 2 s)
    body = json.dumps(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 120,
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
    ).encode()
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"x-api-key: " + served.api_key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with served.connect() as sock:
        sock.sendall(head + body + b"GET /healthz HTTP/1.1\r\nHo")  # the second head never ends
        data = b""
        while b"\r\n0\r\n\r\n" not in data:  # the chunked stream's last chunk
            chunk = sock.recv(65536)
            assert chunk, f"the stream was cut: {data[-300:]!r}"
            data += chunk
        stream, _, rest = data.partition(b"\r\n0\r\n\r\n")
        assert stream.startswith(b"HTTP/1.1 200")
        assert b"event: message_stop" in stream
        status, _, error = read_response(sock, bytearray(rest))
        assert status == 408, error
        assert closed_by_server(sock)


def test_one_hundred_thousand_headers_get_431(served: Served) -> None:
    headers = (b"X-Filler-%06d: v\r\n" % i for i in range(100_000))
    batches = (b"".join(h for _, h in zip(range(500), headers, strict=False)) for _ in range(200))
    with served.connect() as sock:
        answered = send_until_answered(sock, b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n", batches)
        assert answered, "the server read 100,000 headers without answering"
        status, headers_out, body = read_response(sock)
        assert status == 431
        assert headers_out["connection"] == "close"
        error = json.loads(body)["error"]  # the OpenAI dialect of /v1/chat/completions
        assert error["code"] == "request_header_fields_too_large"
        assert "request headers" in error["message"]
        assert closed_by_server(sock)


def test_a_16_mb_header_value_gets_431_in_the_anthropic_dialect(served: Served) -> None:
    chunk = b"a" * 65536
    with served.connect() as sock:
        answered = send_until_answered(
            sock, b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nX-Big: ", (chunk for _ in range(256))
        )
        assert answered, "the server read a 16 MB header without answering"
        status, _, body = read_response(sock)
        assert status == 431
        payload = json.loads(body)
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "invalid_request_error"
        assert closed_by_server(sock)


def test_one_header_too_many_gets_431(served: Served) -> None:
    small = b"".join(b"X-H%d: v\r\n" % i for i in range(100))  # 100 headers plus Host: 101
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n" + small + b"\r\n")
        status, _, body = read_response(sock)
        assert status == 431
        assert json.loads(body)["error"]["message"] == "more than 100 request headers"
    with served.connect() as sock:  # exactly at the limit is fine
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n" + small[: small.index(b"X-H99:")] + b"\r\n")
        assert read_response(sock)[0] == 200


def test_a_long_header_line_and_a_long_request_line(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 431
        assert "'cookie' is longer than 8192 bytes" in json.loads(body)["error"]["message"].lower()
    with served.connect() as sock:
        sock.sendall(b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: gw\r\n\r\n")
        status, _, _ = read_response(sock)
        assert status == 414


def test_slowloris_headers_byte_by_byte_get_408_and_are_closed(served: Served) -> None:
    trickle = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n" + b"X-Slow: " + b"s" * 10_000
    with served.connect() as sock:
        answered = False
        deadline = time.monotonic() + DEADLINE_S
        for byte in trickle:
            if select.select([sock], [], [], 0.05)[0]:
                answered = True
                break
            sock.sendall(bytes([byte]))
            assert time.monotonic() < deadline, "still open and reading a byte-by-byte head"
        assert answered
        status, headers, body = read_response(sock)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert closed_by_server(sock)


def test_an_idle_connection_is_closed_without_an_answer(served: Served) -> None:
    with served.connect() as sock:
        sock.settimeout(DEADLINE_S)
        assert sock.recv(65536) == b""


def test_a_stalled_body_gets_408(served: Served) -> None:
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"x-api-key: " + served.api_key.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    with served.connect() as sock:
        sock.sendall(head + b'{"model": "claude')  # then nothing more
        status, _, body = read_response(sock)
        assert status == 408
        payload = json.loads(body)
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "timeout_error"
        assert closed_by_server(sock)


def test_a_slow_body_that_keeps_coming_is_served(served: Served) -> None:
    """Bytes arriving more often than the body timeout keep the request alive (nginx's semantics)."""
    body = json.dumps(
        {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"x-api-key: " + served.api_key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with served.connect() as sock:
        sock.sendall(head)
        for i in range(0, len(body), len(body) // 4 + 1):
            sock.sendall(body[i : i + len(body) // 4 + 1])
            time.sleep(BODY_TIMEOUT_S / 3)
        status, _, payload = read_response(sock)
        assert status == 200, payload
        assert json.loads(payload)["type"] == "message"


def test_rss_stays_bounded_under_twenty_16_mb_headers(served: Served) -> None:
    before = served.rss_kb()
    chunk = b"b" * 65536
    socks = [served.connect() for _ in range(20)]
    try:
        for sock in socks:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: ")
        # Interleave the twenty uploads, as concurrent attackers would.
        live = list(socks)
        for _ in range(256):
            for sock in list(live):
                if select.select([sock], [], [], 0)[0]:
                    live.remove(sock)
                    continue
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    live.remove(sock)
            if not live:
                break
        assert not live, f"{len(live)} connections were still accepting a 16 MB header"
        peak = served.rss_kb()
    finally:
        for sock in socks:
            sock.close()
    # Unguarded, each connection held its whole value (20 x 16 MB); the guard holds at most
    # one read beyond the 32 KB head limit per connection.
    assert peak - before < 64 * 1024, (before, peak)
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [("GATEWAY_MAX_HEADER_COUNT", "0"), ("GATEWAY_MAX_HEADER_BYTES", "-1"), ("GATEWAY_CLIENT_BODY_TIMEOUT_S", "0")],
)
def test_limits_that_cannot_work_are_refused_at_start(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match="must be"):
        Settings.from_env({name: value})
    assert Settings.from_env({}).max_header_line_bytes == 8192  # nginx's large_client_header_buffers 4 8k


def _chat(api_key: str, stream: bool, close: bool = False) -> bytes:
    body = json.dumps(
        {"model": "gpt-5.4-mini", "stream": stream, "messages": [{"role": "user", "content": "Say hi"}]}
    ).encode()
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer "
        + api_key.encode()
        + b"\r\n"
        + (b"Connection: close\r\n" if close else b"")
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_a_proxy_answer_head_on_the_wire(served: Served) -> None:
    """The packed head (gateway.http.cycle): one of each framing header, and keep-alive honoured."""
    with served.connect() as sock:
        for _ in range(2):  # the same connection serves the next request
            sock.sendall(_chat(served.api_key, stream=False))
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head = data.partition(b"\r\n\r\n")[0].decode("latin-1").lower().split("\r\n")
            names = [line.split(":", 1)[0] for line in head[1:]]
            assert head[0] == "http/1.1 200 ok"
            for name in ("content-type", "content-length", "date", "server", "x-request-id", "x-gateway-model"):
                assert names.count(name) == 1, head
            assert "connection" not in names and "transfer-encoding" not in names
            length = int(next(line.split(":", 1)[1] for line in head if line.startswith("content-length:")))
            rest = data.partition(b"\r\n\r\n")[2]
            while len(rest) < length:
                rest += sock.recv(65536)
            assert json.loads(rest[:length])["object"] == "chat.completion"
        sock.sendall(_chat(served.api_key, stream=True, close=True))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # the server closed, as asked
            data += chunk
        stream_head, _, chunked = data.partition(b"\r\n\r\n")
        lines = stream_head.decode("latin-1").lower().split("\r\n")
        assert "transfer-encoding: chunked" in lines and "connection: close" in lines
        assert not any(line.startswith("content-length") for line in lines)
        assert chunked.endswith(b"\r\n0\r\n\r\n") and b"data: [DONE]" in chunked

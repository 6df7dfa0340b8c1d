"""``POST /v1/embeddings``: OpenAI's embeddings API for catalog models in ``embedding`` mode.

Any OpenAI-compatible provider serves it (OpenAI, vLLM, Ollama, a configured preset). The
call is admitted and settled like a chat request: the tier policy and the budget apply, and
one usage row records the input tokens at the model's price (litellm's map, or the
``GATEWAY_CONFIG`` override). Errors are OpenAI-shaped.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, post

from gateway.dialects import RequestValidationError, decode_body
from gateway.errors import InvalidRequest, NotFound, UpstreamError
from gateway.http.openapi_docs import error_responses
from gateway.pipeline.attempt import report_failure
from gateway.pipeline.codecs import OPENAI_CHAT, OpenAIChatCodec, ParsedRequest
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.pipeline.resolve import authenticate
from gateway.pipeline.route import route_for
from gateway.pipeline.settlement import Settlement
from gateway.policy.tiers import check_model
from gateway.providers.base import EndpointProvider
from gateway.resilience.attempts import upstream_failure
from gateway.services import Services


class _EmbeddingsCodec(OpenAIChatCodec):
    """OpenAI's dialect (errors, usage), counted under its own endpoint label."""

    endpoint = "embeddings"


_EMBEDDINGS = _EmbeddingsCodec()
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def input_chars(value: Any) -> int:
    """The size of ``input`` in characters (token arrays count ~4 characters a token).

    Raises:
        RequestValidationError: ``input`` is not a string, a list of strings, a token
            array or a list of token arrays, or is empty.
    """
    if isinstance(value, str):
        if value:
            return len(value)
    elif isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return sum(len(v) for v in value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return 4 * len(value)
        if all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value):
            return 4 * sum(len(v) for v in value)
    raise RequestValidationError(
        "input: expected a non-empty string, list of strings, token array or list of token arrays", "input"
    )


def _input_turns(value: Any) -> list[tuple[str, str]]:
    """The inputs as the user turns whose size budgets and estimates read (token arrays as ~4 chars a token)."""
    if isinstance(value, str):
        return [("user", value)]
    if all(isinstance(v, str) for v in value):
        return [("user", v) for v in value]
    flat = value if all(isinstance(v, int) for v in value) else [t for v in value for t in v]
    return [("user", " " * (4 * len(flat)))]


@post(
    "/v1/embeddings",
    status_code=200,
    summary="Create embeddings (OpenAI format)",
    responses=error_responses(400, 401, 402, 403, 404, 413, 429, 502, 503, 504),
)
async def embeddings(request: Request[Any, Any, Any]) -> Response[bytes]:
    services: Services = request.app.state.services
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    principal = await authenticate(services, request.headers)
    try:
        raw = decode_body(await request.body())
        model = raw.get("model")
        if not isinstance(model, str) or not model:
            raise RequestValidationError("model: required, an embedding model id from GET /v1/models", "model")
        input_chars(raw.get("input"))
    except RequestValidationError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    entry = services.catalog.get(model)
    if entry is None:
        raise NotFound(f"model '{model}' does not exist; GET /v1/models lists yours", code="model_not_found")
    if entry.mode != "embedding":
        raise InvalidRequest(
            f"model '{model}' is a chat model; embeddings need an embedding model such as text-embedding-3-small",
            code="model_not_embedding",
            param="model",
        )
    tier = check_model(principal, entry)
    provider = services.providers.get(entry.provider)
    if provider is None or provider.dialect != "openai" or not isinstance(provider, EndpointProvider):
        raise UpstreamError(
            f"model '{model}' names provider '{entry.provider}', which cannot serve embeddings "
            "(an OpenAI-compatible provider with a key is needed)",
            code="embeddings_unavailable",
        )
    parsed = ParsedRequest(
        raw=raw,
        typed=None,
        model=model,
        stream=False,
        max_output_tokens=0,
        max_output_field="max_tokens",
        include_usage=False,
        turns=_input_turns(raw["input"]),
        n_tools=0,
        n_attachments=0,
    )
    ctx = RequestContext(
        request_id=request_id,
        started=started,
        created_at=datetime.now(UTC).isoformat(),
        codec=_EMBEDDINGS,
        principal=principal,
        parsed=parsed,
        request_type="chat",
    )
    call = ModelCall(
        request_id=ctx.call_id(),
        entry=entry,
        provider=provider,
        route=route_for(OPENAI_CHAT, "openai"),
        model_tier=tier,
        max_output_tokens=0,
    )
    body = _enc.encode({**raw, "model": entry.upstream})
    async with Settlement(services, ctx) as settlement:
        call.holds = await services.admission.admit(call.policy_request(ctx))
        settlement.track(call)
        t0 = time.perf_counter()
        resp = await provider.send_to("/embeddings", body)
        data = await resp.read()
        call.upstream_wait += time.perf_counter() - t0
        if resp.status >= 400:
            report_failure(services.metrics, call, f"http_{resp.status}", resp.status)
            raise upstream_failure(provider.name, resp.status, data)
        try:
            obj = _dec.decode(data)
            usage = obj.get("usage")
            obj["model"] = entry.id
        except (msgspec.DecodeError, AttributeError) as exc:
            raise UpstreamError(f"the provider '{provider.name}' sent an unreadable response: {exc}") from exc
        call.first_byte_at = time.perf_counter()
        settlement.settle(call, status="success", usage=usage if isinstance(usage, dict) else None)
    headers = {"x-request-id": request_id, "x-gateway-model": entry.id}
    return Response(_enc.encode(obj), media_type="application/json", headers=headers)

"""``POST /v1/messages/count_tokens``: the Anthropic SDK's ``messages.count_tokens`` for every model.

Claude models served by Anthropic are counted by Anthropic (the only exact count for
them); every other model is counted here (see ``gateway.tokens``). The response header
``X-Gateway-Token-Count`` says which: ``provider``, ``tokenizer`` or ``estimated``.
Nothing is billed, so no usage row is written; authentication, the model lookup (``auto``
included) and the tier policy apply as on ``/v1/messages``. Errors are Anthropic-shaped.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, post

from gateway.dialects import RequestValidationError, decode_body
from gateway.errors import InvalidRequest
from gateway.http.openapi_docs import error_responses
from gateway.pipeline.codecs import ANTHROPIC_MESSAGES
from gateway.pipeline.context import RequestContext
from gateway.pipeline.resolve import authenticate, resolve_model, system_prefix
from gateway.providers.base import EndpointProvider
from gateway.resilience.attempts import upstream_failure
from gateway.services import Services
from gateway.tokens import TokenCounter, anthropic_prompt_texts
from gateway.translate.system_prompt import prepend_system_anthropic

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


@post(
    "/v1/messages/count_tokens",
    status_code=200,
    summary="Count a Messages request's input tokens",
    responses=error_responses(400, 401, 403, 404, 413, 429, 502, 503, anthropic=True),
)
async def count_tokens(request: Request[Any, Any, Any]) -> Response[bytes]:
    services: Services = request.app.state.services
    request_id = str(uuid.uuid4())
    principal = await authenticate(services, request.headers)
    try:
        raw = decode_body(await request.body())
        # The body is a Messages request without max_tokens; validate it as one.
        parsed = ANTHROPIC_MESSAGES.parse(_enc.encode({**raw, "max_tokens": 1, "stream": False}))
    except RequestValidationError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    ctx = RequestContext(
        request_id=request_id,
        started=time.perf_counter(),
        created_at=datetime.now(UTC).isoformat(),
        codec=ANTHROPIC_MESSAGES,
        principal=principal,
        parsed=parsed,
    )
    resolved = await resolve_model(services, ctx)
    entry, provider = resolved.entry, resolved.provider
    headers = {"x-request-id": request_id, "x-gateway-model": entry.id}
    if ctx.decision is not None:
        headers["x-gateway-tier"] = ctx.decision.complexity
    prefix = system_prefix(principal)
    if provider.dialect == "anthropic" and isinstance(provider, EndpointProvider):
        body = dict(raw)
        body["model"] = entry.upstream
        if prefix:
            prepend_system_anthropic(body, prefix)
        resp = await provider.send_to("/messages/count_tokens", _enc.encode(body))
        data = await resp.read()
        if resp.status >= 400:
            raise upstream_failure(provider.name, resp.status, data)
        try:
            count = int(_dec.decode(data)["input_tokens"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            raise upstream_failure(provider.name, 502, data) from None
        method = "provider"
    else:
        counter: TokenCounter = services.token_counter
        messages, extra = anthropic_prompt_texts(raw)
        if prefix:
            extra.append(prefix)
        count, method = counter.count(entry.upstream, messages, extra)
    headers["x-gateway-token-count"] = method
    return Response(_enc.encode({"input_tokens": count}), media_type="application/json", headers=headers)

"""``GET /v1/models``: the catalog in OpenAI's list format, filtered to what the caller may use."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from gateway.catalog import AUTO_MODEL
from gateway.pipeline.resolve import authenticate
from gateway.policy.tiers import is_allowed, model_tier
from gateway.services import Services

_CREATED = 1_735_689_600  # 2025-01-01: catalog entries have no real creation time


@get("/v1/models", summary="Models the caller may use (OpenAI list format, plus tier and provider)")
async def list_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    data: list[dict[str, Any]] = []
    for m in services.catalog.models():
        if not is_allowed(principal, m):
            continue
        data.append(
            {
                "id": m.id,
                "object": "model",
                "created": _CREATED,
                "owned_by": m.provider,
                "tier": model_tier(principal, m),
                "provider": m.provider,
            }
        )
    data.append(
        {
            "id": AUTO_MODEL,
            "object": "model",
            "created": _CREATED,
            "owned_by": "gateway",
            "tier": "auto",
            "provider": "gateway",
        }
    )
    return {"object": "list", "data": data}

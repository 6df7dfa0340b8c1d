"""``GET /v1/models`` and ``GET /v1/models/{id}``: the catalog in OpenAI's format, filtered to
what the caller may use."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath

from gateway.auth.principal import Principal
from gateway.catalog import AUTO_MODEL
from gateway.config import ModelEntry
from gateway.errors import NotFound
from gateway.http.openapi_docs import error_responses
from gateway.pipeline.resolve import authenticate
from gateway.policy.tiers import is_allowed, model_tier
from gateway.services import Services

_CREATED = 1_735_689_600  # 2025-01-01: catalog entries have no real creation time


@get("/v1/models", summary="Models the caller may use (OpenAI list format, plus tier and provider)")
async def list_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    data = [_model_object(principal, m) for m in services.catalog.models() if is_allowed(principal, m)]
    data.append(_AUTO_OBJECT)
    return {"object": "list", "data": data}


_AUTO_OBJECT: dict[str, Any] = {
    "id": AUTO_MODEL,
    "object": "model",
    "created": _CREATED,
    "owned_by": "gateway",
    "tier": "auto",
    "provider": "gateway",
}


def _model_object(principal: Principal, m: ModelEntry) -> dict[str, Any]:
    return {
        "id": m.id,
        "object": "model",
        "created": _CREATED,
        "owned_by": m.provider,
        "tier": model_tier(principal, m),
        "provider": m.provider,
    }


@get(
    "/v1/models/{model_id:path}",
    summary="One model the caller may use (OpenAI model object, plus tier and provider)",
    responses=error_responses(401, 404),
)
async def get_model(request: Request[Any, Any, Any], model_id: FromPath[str]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    # A path parameter keeps its leading slash; ids may contain slashes (vLLM-style names).
    wanted = model_id.lstrip("/")
    if wanted == AUTO_MODEL:
        return dict(_AUTO_OBJECT)
    entry = services.catalog.get(wanted)
    # A model the caller may not use reads as absent, as OpenAI answers for another
    # organization's fine-tune: the catalog of other tiers is not the caller's business.
    if entry is None or not is_allowed(principal, entry):
        raise NotFound(
            f"the model '{wanted}' does not exist or you do not have access to it; GET /v1/models lists yours",
            code="model_not_found",
            param="model",
        )
    return _model_object(principal, entry)

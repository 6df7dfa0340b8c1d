"""``POST /v1/feedback``: a caller labels one of their own requests, for training the router.

Body: ``{"request_id": UUID, "rating": -1|0|1}`` or ``{"request_id": UUID,
"preferred_request_id": UUID}`` (another of the caller's requests gave the better answer).
Both requests must be the caller's own (found in ``llm_usage`` under their user), since a
label on someone else's request would let a caller read or steer what others asked. A
second label on the same request replaces the first. Usage rows reach the database
through the write queue, so a request labeled within the same second may not be found
yet: the 404 says to retry.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from gateway.errors import InvalidRequest, NotFound
from gateway.http.openapi_docs import error_responses
from gateway.pipeline.resolve import authenticate
from gateway.services import Services

_enc = msgspec.json.Encoder()

_OWN_SQL = """
SELECT count(DISTINCT request_id) FROM llm_usage
WHERE request_id = ANY(%s::uuid[]) AND user_id = %s::uuid AND organization_id = %s::uuid
"""
_UPSERT_SQL = """
INSERT INTO gateway_router_feedback (organization_id, user_id, request_id, rating, preferred_request_id)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s, %s::uuid)
ON CONFLICT (user_id, request_id) DO UPDATE
SET rating = EXCLUDED.rating, preferred_request_id = EXCLUDED.preferred_request_id, created_at = NOW()
RETURNING id::text
"""


def _uuid(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a request id (the X-Request-Id a response carried)", param=param)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"{param} is not a request id (a UUID): {value!r}", param=param) from None


def parse_feedback(body: bytes) -> tuple[str, int | None, str | None]:
    """``(request_id, rating, preferred_request_id)`` from the body, or a clear 400."""
    try:
        data = msgspec.json.decode(body) if body.strip() else None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            'send a JSON object: {"request_id": ..., "rating": -1|0|1} or {..., "preferred_request_id"}'
        )
    unknown = sorted(set(data) - {"request_id", "rating", "preferred_request_id"})
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}", param=unknown[0])
    request_id = _uuid(data.get("request_id"), "request_id")
    rating = data.get("rating")
    preferred = data.get("preferred_request_id")
    if (rating is None) == (preferred is None):
        raise InvalidRequest("give exactly one of rating (-1, 0 or 1) and preferred_request_id", param="rating")
    if rating is not None and (isinstance(rating, bool) or rating not in (-1, 0, 1)):
        raise InvalidRequest(f"rating must be -1, 0 or 1, got {rating!r}", param="rating")
    preferred_id = None if preferred is None else _uuid(preferred, "preferred_request_id")
    if preferred_id == request_id:
        raise InvalidRequest("preferred_request_id must be another request", param="preferred_request_id")
    return request_id, rating, preferred_id


@post(
    "/v1/feedback",
    status_code=201,
    summary="Rate one of your requests, or prefer another one (router labels)",
    responses=error_responses(400, 401, 404),
)
async def post_feedback(request: Request[Any, Any, Any]) -> Response[bytes]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    request_id, rating, preferred = parse_feedback(await request.body())
    wanted = [request_id] + ([preferred] if preferred else [])
    async with services.pool.connection() as conn:
        row = await (await conn.execute(_OWN_SQL, (wanted, principal.user_id, principal.organization_id))).fetchone()
        if row is None or int(row[0]) != len(wanted):
            raise NotFound(
                "no such request of yours (give the X-Request-Id of a request you made; one made in the last "
                "few seconds may not be recorded yet, retry)",
                code="request_not_found",
                param="request_id" if preferred is None else "request_id/preferred_request_id",
            )
        saved = await (
            await conn.execute(
                _UPSERT_SQL, (principal.organization_id, principal.user_id, request_id, rating, preferred)
            )
        ).fetchone()
    assert saved is not None
    body = {"id": saved[0], "request_id": request_id, "rating": rating, "preferred_request_id": preferred}
    return Response(_enc.encode(body), status_code=201, media_type="application/json")


ROUTES: list[HTTPRouteHandler] = [post_feedback]

"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.db.migrate import status as migration_status
from gateway.resilience.retry import retry_after_header
from gateway.services import Services


@get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _pending_migrations(url: str) -> list[str]:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return migration_status(conn)


@get("/readyz", summary="Readiness: database reachable and migrations current")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    services: Services = request.app.state.services
    url = services.database_url
    try:
        pending = await asyncio.wait_for(asyncio.to_thread(_pending_migrations, url), timeout=5)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        return Response(
            {"status": "unavailable", "database": f"unreachable: {exc}"},
            status_code=503,
            headers=_retry_after(services),
        )
    if pending:
        return Response(
            {"status": "unavailable", "pending_migrations": pending}, status_code=503, headers=_retry_after(services)
        )
    return Response(
        {
            "status": "ready",
            "write_queue": len(services.queue),
            "spooled_files": len(services.queue.spool.files()),
            "deployments": _deployments(services),
        },
        status_code=200,
    )


def _retry_after(services: Services) -> dict[str, str]:
    return {"retry-after": retry_after_header(services.settings.service_retry_after_s)}


def _deployments(services: Services) -> list[dict[str, Any]]:
    """Each deployment's circuit and load (per process). Open circuits do not make the
    gateway unready: other deployments or fallbacks may still serve, and a replica taken out
    of rotation would not see the provider recover."""
    now = asyncio.get_running_loop().time()
    return [
        {
            "model": model,
            "deployment": d.name,
            "circuit": d.circuit.state(now).name.lower(),
            "in_flight": d.in_flight,
            "cooling_down_s": round(max(0.0, d.not_before - now), 3),
        }
        for model, deps in services.deployments.items()
        for d in deps
    ]


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    services: Services = request.app.state.services
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""Trained router models in ``gateway_router_models``: stored by the CLI, loaded once per process.

A model row never changes (a retrained model is a new row with a new id), so a process
may keep a decoded model for as long as it likes: only *which* model an organization
uses can change, and that is the router configuration's ``model_id``, which already
reaches every replica through the configuration cache and its ``NOTIFY``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.errors import ServiceUnavailable
from router.learned import LearnedScorer, ModelArtifact, encode_artifact

INSERT_MODEL_SQL = """
INSERT INTO gateway_router_models (organization_id, name, format_version, artifact, metrics, created_by)
VALUES (%s::uuid, %s, %s, %s::jsonb, %s::jsonb, %s::uuid) RETURNING id::text
"""
# A configuration may point at the organization's own models or at shared ones (NULL org).
SELECT_MODEL_SQL = """
SELECT artifact, name FROM gateway_router_models
WHERE id = %s::uuid AND (organization_id = %s::uuid OR organization_id IS NULL)
"""
EXISTS_SQL = """
SELECT 1 FROM gateway_router_models WHERE id = %s::uuid AND (organization_id = %s::uuid OR organization_id IS NULL)
"""
# A process keeps at most this many decoded models (each is a dict of up to 2**18 weights).
MAX_CACHED = 16

_enc = msgspec.json.Encoder()


def save_model_cli(url: str, org: str, name: str, artifact: ModelArtifact) -> str:
    """Store an artifact for an organization (slug, name or id) from the command line; its new id."""
    from gateway.cli.router_config import _org_id

    with psycopg.connect(url) as conn:
        org_id = _org_id(conn, org)
        row = conn.execute(
            INSERT_MODEL_SQL,
            (
                org_id,
                name,
                artifact.format_version,
                encode_artifact(artifact).decode(),
                _enc.encode(artifact.metrics).decode(),
                None,
            ),
        ).fetchone()
    assert row is not None
    return str(row[0])


class RouterModelCache:
    """Decoded models by id, loaded on first use (rows are immutable, so no expiry)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._models: dict[tuple[str, str], LearnedScorer] = {}

    async def exists(self, model_id: str, organization_id: str) -> bool:
        """Whether ``organization_id`` may use the model (its own, or a shared one)."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute(EXISTS_SQL, (model_id, organization_id))).fetchone()
        return row is not None

    async def get(self, model_id: str, organization_id: str) -> LearnedScorer | None:
        """The model ready to score, or None when the organization has no such model.

        Raises:
            ServiceUnavailable: The database cannot be reached and the model is not cached.
        """
        key = (model_id, organization_id)
        hit = self._models.get(key)
        if hit is not None:
            return hit
        try:
            async with self._pool.connection() as conn:
                row = await (await conn.execute(SELECT_MODEL_SQL, (model_id, organization_id))).fetchone()
        except (psycopg.Error, OSError) as exc:
            raise ServiceUnavailable(
                "the router model cannot be read (database unreachable); retry, or name a model",
                code="router_model_unavailable",
            ) from exc
        if row is None:
            return None
        artifact = msgspec.convert(row[0], ModelArtifact)
        scorer = LearnedScorer(artifact, model_id=f"{row[1]} ({model_id[:8]})")
        if len(self._models) >= MAX_CACHED:
            self._models.pop(next(iter(self._models)))
        self._models[key] = scorer
        return scorer

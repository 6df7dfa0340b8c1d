"""Routes for this capability (placeholder until it lands)."""

from __future__ import annotations

ROUTES: list[object] = []

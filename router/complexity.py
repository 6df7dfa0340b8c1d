"""The router's one vocabulary: how hard a conversation is (its *complexity*).

``simple``, ``medium`` and ``complex`` are complexities, never "tiers": a *model tier*
(basic/standard/premium, ``gateway.model_tier``) is what the catalog and the tier policy
speak of. The database column ``routing_decisions.tier`` and the ``X-Gateway-Tier``
response header keep their names (they are the published contract) but hold a complexity.
"""

from __future__ import annotations

from typing import Literal

Complexity = Literal["simple", "medium", "complex"]
COMPLEXITIES: tuple[Complexity, ...] = ("simple", "medium", "complex")

"""``PerPrincipal``: a value derived from a principal alone, computed once per principal object.

Principals are immutable and cached (``gateway.auth.resolver``): the same object serves a key's
requests until its policy changes, when a new object replaces it. So what depends only on the
principal (the rate-limit scopes, the budget scopes) is kept by the object's identity; the
entry holds the principal, so its id cannot be reused while the entry is there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.auth.principal import Principal

T = TypeVar("T")


class PerPrincipal(Generic[T]):
    """``derive(principal)``, remembered per principal object (at most ``keep``; then it starts over)."""

    __slots__ = ("_derive", "_keep", "_memo")

    def __init__(self, derive: Callable[[Principal], T], keep: int = 4096) -> None:
        self._derive = derive
        self._keep = keep
        self._memo: dict[int, tuple[Principal, T]] = {}

    def get(self, p: Principal) -> T:
        known = self._memo.get(id(p))
        if known is not None and known[0] is p:
            return known[1]
        value = self._derive(p)
        if len(self._memo) >= self._keep:
            self._memo = {}
        self._memo[id(p)] = (p, value)
        return value

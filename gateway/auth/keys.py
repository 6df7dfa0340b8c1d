"""API key format, generation and hashing.

A key looks like ``gw_<prefix>_<secret>``: the prefix (8 url-safe characters) is public
and shown in listings; the whole key is hashed with SHA-256 for storage. Keys carry 192
bits of randomness, so a fast hash is appropriate (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "gw_"


def generate_key() -> tuple[str, str, bytes]:
    """A new key: ``(key, public_prefix, sha256_digest)``. The key is shown once."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    return key, prefix, hash_key(key)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_prefix(key: str) -> str | None:
    """The public prefix of a well-formed gateway key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    rest = key[len(KEY_PREFIX) :]
    prefix, sep, secret = rest.partition("_")
    if not sep or len(prefix) != 8 or not secret:
        return None
    return prefix


def digest_matches(key: str, stored: bytes) -> bool:
    """Constant-time comparison of a presented key against a stored digest."""
    return hmac.compare_digest(hash_key(key), stored)

"""JWTs minted by the main application: HS256 with a shared secret, or keys from a JWKS URL."""

from __future__ import annotations

import asyncio

import jwt
import jwt.types

from gateway.errors import Unauthenticated
from gateway.settings import Settings


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


class JWTVerifier:
    """Verifies a token's signature, expiry, issuer and audience; returns its ``sub``."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None

    @property
    def enabled(self) -> bool:
        return self._secret is not None or self._jwks is not None

    async def subject(self, token: str) -> str:
        if not self.enabled:
            raise Unauthenticated("JWTs are not accepted here (no GATEWAY_JWT_SECRET or JWKS URL set)")
        options: jwt.types.Options = {"require": ["exp", "sub"], "verify_aud": self._audience is not None}
        try:
            if self._jwks is not None:
                # PyJWKClient fetches over blocking HTTP (cached after the first call).
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                claims = jwt.decode(
                    token,
                    signing_key.key,
                    algorithms=["RS256", "ES256", "EdDSA"],
                    audience=self._audience,
                    issuer=self._issuer,
                    options=options,
                )
            else:
                assert self._secret is not None
                claims = jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    audience=self._audience,
                    issuer=self._issuer,
                    options=options,
                )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired", code="token_expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated(f"the token is not valid: {exc}", code="invalid_token") from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("the token has no subject", code="invalid_token")
        return sub

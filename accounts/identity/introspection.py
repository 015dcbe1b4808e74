"""Token introspection (RFC 7662): is this access token active, and what does it carry?

The token is checked with the verifier every service uses (chargepark.auth.TokenVerifier:
signature against the issuer's keys, expiry, issuer and audience, the same leeway), with the keys
read from this issuer's own database rather than over HTTP. Beyond what a service can see, the
issuer also knows whether the token's holder is still there: a token of a revoked API client or
of a deactivated customer is answered inactive.

The caller must authenticate as an API client holding `accounts:read` (or `admin`), as RFC 7662
section 2.1 asks, so nobody can probe tokens anonymously. The gateway calls this for every request
that carries a bearer token (with a cache of a few seconds in front), so a caller whose secret
was checked is remembered for `caller_cache_sec`: argon2 runs once a minute per caller, not once
per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from accounts.identity.clients import ApiClient, ClientStore
from accounts.identity.keys import KeyStore
from accounts.identity.scopes import CLIENT_ROLE, CUSTOMER_ROLE
from accounts.ports import CustomerLogins
from chargepark.auth import InvalidToken, StaticJwks, TokenVerifier

# Scopes that allow a client to introspect tokens.
INTROSPECT_SCOPES = frozenset({"accounts:read", "admin"})

# The claims an active answer carries (RFC 7662 section 2.2), when the token has them.
_CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "nbf", "iss", "aud", "jti", "role")

_CALLERS_MAX = 1000


class IssuerKeys:
    """This issuer's public keys (its JWKS) straight from its database, for a TokenVerifier:
    cached for `ttl` seconds and reread (at most every `min_refetch` seconds) when a token names
    a key id the cache does not know, as after a rotation in another accounts process."""

    def __init__(self, keys: KeyStore, *, ttl: float = 30.0, min_refetch: float = 1.0) -> None:
        self.keys = keys
        self.ttl = ttl
        self.min_refetch = min_refetch
        self._jwks: StaticJwks | None = None
        self._kids: frozenset[str | None] = frozenset()
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        age = time.monotonic() - self._loaded_at
        if (
            self._jwks is None
            or age > self.ttl
            or (kid not in self._kids and age > self.min_refetch)
        ):
            async with self._lock:
                age = time.monotonic() - self._loaded_at
                if self._jwks is None or age > self.min_refetch:
                    jwks = await self.keys.jwks()
                    self._jwks = StaticJwks(jwks)
                    self._kids = frozenset(k.get("kid") for k in jwks["keys"])
                    self._loaded_at = time.monotonic()
        assert self._jwks is not None
        return await self._jwks.key_for(kid)


class Introspector:
    def __init__(
        self,
        logins: CustomerLogins,
        keys: KeyStore,
        clients: ClientStore,
        *,
        issuer: str,
        authenticate: Callable[[str, str, str], Awaitable[ApiClient]],
        caller_cache_sec: float = 60.0,
    ) -> None:
        self.logins = logins
        self.clients = clients
        self.verifier = TokenVerifier(IssuerKeys(keys), issuer=issuer, audience=issuer)
        self._authenticate = authenticate
        self.caller_cache_sec = caller_cache_sec
        self._callers: dict[bytes, tuple[ApiClient, float]] = {}

    async def caller(self, client_id: str, secret: str, ip: str) -> ApiClient | None:
        """The authenticated caller, or None when it may not introspect (no such scope).

        Raises the token endpoint's OAuthError (invalid_client, or locked after repeated
        failures) when the credentials are wrong."""
        digest = hashlib.blake2b(f"{client_id}\0{secret}".encode(), digest_size=20).digest()
        kept = self._callers.get(digest)
        if kept is not None and time.monotonic() < kept[1]:
            client = kept[0]
        else:
            client = await self._authenticate(client_id, secret, ip)
            if len(self._callers) >= _CALLERS_MAX:
                self._callers.clear()
            self._callers[digest] = (client, time.monotonic() + self.caller_cache_sec)
        return client if client.scopes & INTROSPECT_SCOPES else None

    async def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 answer for `token`: {"active": false} for anything not an active access
        token of this issuer (bad signature, expired, another issuer, a refresh token, a revoked
        holder), else {"active": true, ...its claims}."""
        try:
            principal = await self.verifier.verify(token)
        except InvalidToken:
            return {"active": False}
        claims = principal.claims
        if not await self._holder_active(claims):
            return {"active": False}
        body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        body.update({name: claims[name] for name in _CLAIMS if name in claims})
        if isinstance(body.get("scope"), list):
            body["scope"] = " ".join(body["scope"])
        return body

    async def _holder_active(self, claims: Mapping[str, Any]) -> bool:
        role, subject = claims.get("role"), str(claims.get("sub", ""))
        if role == CLIENT_ROLE:
            client = await self.clients.find(subject)
            return client is not None and client.active
        if role == CUSTOMER_ROLE:
            return await self.logins.is_active(subject)
        return True

"""Bearer-token checks every service applies: JWTs verified locally against the issuer's JWKS.

Routes say what they need: `@public` (no token), `@requires("parking:write")` (a token carrying
that scope, or `admin`), or nothing (any valid token). Keys come from a KeySource: a fixed JWKS
(tests, or a file) or the issuer's JWKS URL, fetched with aiohttp, cached, and refetched when a
token names a `kid` the cache does not know (key rotation).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import jwt
from aiohttp import web
from aiohttp.typedefs import Middleware

from chargepark import tracing
from chargepark.http.problem import Handler, problem

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
SCOPE_ATTR = "__chargepark_scope__"
PUBLIC_ATTR = "__chargepark_public__"
ALGORITHMS = ["RS256", "EdDSA", "ES256"]  # asymmetric only: never HS*, never none


def requires(scope: str) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, SCOPE_ATTR, scope)
        return fn

    return mark


def public(fn: F) -> F:
    setattr(fn, PUBLIC_ATTR, True)
    return fn


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def customer_id(self) -> str | None:
        """Set when a customer (not an operator or a service) holds the token: handlers then
        show that customer's own data only."""
        return self.subject if self.claims.get("role") == "customer" else None


PRINCIPAL = web.RequestKey("principal", Principal)


class InvalidToken(Exception):
    pass


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> jwt.PyJWK: ...


class StaticJwks:
    """A fixed key set, e.g. from a file or a test's own key pair."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _index(jwks)

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        return _pick(self._keys, kid)


class RemoteJwks:
    """The issuer's JWKS over HTTP: cached for `ttl`, refetched (at most every `min_refetch`
    seconds) when a token names an unknown kid."""

    def __init__(self, url: str, *, ttl: float = 300.0, min_refetch: float = 5.0) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = -math.inf  # last successful fetch
        self._tried_at = -math.inf  # last attempt, successful or not
        self._lock = asyncio.Lock()

    def _due(self, kid: str | None) -> bool:
        now = time.monotonic()
        if now - self._tried_at <= self.min_refetch:
            return False  # fetched (or failed to) a moment ago
        return kid not in self._keys or now - self._fetched_at > self.ttl

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        if self._due(kid):
            async with self._lock:
                if self._due(kid):  # a request that held the lock may have just fetched
                    await self._refresh()
        return _pick(self._keys, kid)

    async def _refresh(self) -> None:  # the caller holds self._lock
        attributes = {"http.method": "GET", "http.request.method": "GET", "url.full": self.url}
        try:
            timeout = aiohttp.ClientTimeout(total=3)
            with tracing.client_span("GET", attributes):
                headers: dict[str, str] = {}
                tracing.inject(headers)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as http,
                    http.get(self.url, headers=headers) as r,
                ):
                    r.raise_for_status()
                    self._keys = _index(await r.json(content_type=None))
                    self._fetched_at = time.monotonic()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # Keep verifying with the keys we have; the issuer may be restarting.
            log.warning("JWKS fetch failed", extra={"url": self.url, "error": str(exc)})
            if not self._keys:
                raise InvalidToken("the token issuer's keys are unavailable") from exc
        finally:
            self._tried_at = time.monotonic()


def _index(jwks: Mapping[str, Any]) -> dict[str | None, jwt.PyJWK]:
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS: no 'keys' list")
    keys: dict[str | None, jwt.PyJWK] = {}
    for data in entries:
        kid = data.get("kid") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict) or not isinstance(kid, str | None):
                raise jwt.PyJWKError("not a JWK object with a string kid")
            keys[kid] = jwt.PyJWK(data)
        except jwt.PyJWTError:  # PyJWKError, and InvalidKeyError for bad key material
            log.warning("unusable key in JWKS skipped", extra={"kid": repr(kid)})
    return keys


def _pick(keys: Mapping[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK:
    if kid in keys:
        return keys[kid]
    raise InvalidToken("the token is signed with an unknown key")


_VERIFIED_MAX = 10_000  # tokens whose verification is kept (least recently used dropped)


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        # A client sends the same token with each request until it expires; its signature is
        # checked once (RS256 costs ~0.2 ms, a tenth of a cheap request) and the result kept
        # until the token's own expiry. Keys are retired only after their tokens expire, so a
        # kept result never outlives the key that vouched for it.
        self._verified: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        digest = hashlib.blake2b(token.encode(), digest_size=20).digest()
        kept = self._verified.get(digest)
        if kept is not None:
            principal, valid_until = kept
            if time.time() < valid_until:
                self._verified.move_to_end(digest)
                return principal
            del self._verified[digest]
        principal = await self._verify(token)
        self._verified[digest] = (principal, float(principal.claims["exp"]) + self.leeway)
        if len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is malformed") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        key = await self.keys.key_for(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name] if key.algorithm_name else ALGORITHMS,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is invalid: {exc}") from exc
        scope = claims.get("scope", "")
        scopes = frozenset(scope.split() if isinstance(scope, str) else scope)
        return Principal(subject=str(claims["sub"]), scopes=scopes, claims=claims)


def auth_middleware(verifier: TokenVerifier | None) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route_handler = request.match_info.handler
        if getattr(route_handler, PUBLIC_ATTR, False) or request.match_info.http_exception:
            return await handler(request)
        scope = getattr(route_handler, SCOPE_ATTR, None)
        header = request.headers.get("Authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            return _unauthorized("a Bearer token is required")
        if verifier is None:
            return _unauthorized("no token issuer is configured (CHARGEPARK_JWKS_URL)")
        try:
            principal = await verifier.verify(token.strip())
        except InvalidToken as exc:
            return _unauthorized(str(exc), error="invalid_token")
        if scope and not principal.has(scope):
            return problem(
                403,
                f"this needs the scope {scope!r}",
                kind="insufficient-scope",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware


def _unauthorized(detail: str, error: str | None = None) -> web.Response:
    challenge = "Bearer" + (f' error="{error}"' if error else "")
    return problem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": challenge})

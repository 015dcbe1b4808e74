"""OAuth2 token grants (RFC 6749): client_credentials, password and refresh_token.

Access tokens are RS256 JWTs signed with the current key (`kid` in the header). Refresh tokens
are random strings kept only as their SHA-256; each is used once (a refresh returns a new one),
and presenting a used one again revokes every refresh token of that subject, as a stolen token
is the likely cause.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from accounts.identity.clients import ApiClient, ClientStore
from accounts.identity.introspection import Introspector
from accounts.identity.keys import ALG, KeyStore
from accounts.identity.scopes import (
    CLIENT_ROLE,
    CUSTOMER_ROLE,
    CUSTOMER_SCOPES,
    format_scopes,
    parse_scopes,
)
from accounts.identity.throttle import Locked, Throttle
from accounts.ports import CustomerLogins, RefreshRecord, RefreshTokens
from chargepark.clock import Clock
from chargepark.passwords import verify_password

GRANTS = ("client_credentials", "password", "refresh_token")


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str


@dataclass(frozen=True)
class Grant:
    subject: str
    role: str
    scopes: frozenset[str]
    client_id: str | None
    with_refresh: bool


class TokenService:
    def __init__(
        self,
        logins: CustomerLogins,
        refresh_tokens: RefreshTokens,
        keys: KeyStore,
        clients: ClientStore,
        throttle: Throttle,
        clock: Clock,
        *,
        issuer: str,
        access_ttl: int,
        refresh_ttl: int,
    ) -> None:
        self.logins = logins
        self.refresh_tokens = refresh_tokens
        self.keys = keys
        self.clients = clients
        self.throttle = throttle
        self.clock = clock
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = timedelta(seconds=refresh_ttl)
        self.introspector = Introspector(
            logins, keys, clients, issuer=issuer, authenticate=self.authenticate_client
        )

    async def token(
        self, form: Mapping[str, str], credentials: ClientCredentials | None, ip: str
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in GRANTS:
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type {grant_type!r} is not one of " + ", ".join(GRANTS),
            )
        requested = parse_scopes(form.get("scope")) if "scope" in form else None
        client = await self._client(credentials, ip, required=grant_type == "client_credentials")
        if grant_type == "client_credentials":
            assert client is not None
            grant = Grant(
                client.client_id,
                CLIENT_ROLE,
                _narrow(client.scopes, requested),
                client.client_id,
                with_refresh=False,
            )
        elif grant_type == "password":
            grant = await self._password(form, requested, client, ip)
        else:
            grant = await self._refresh(form, requested, client)
        return await self._issue(grant)

    async def authenticate_client(self, client_id: str, secret: str, ip: str) -> ApiClient:
        """An API client by its credentials, with the token endpoint's lock-out on repeated
        failures; raises OAuthError (invalid_client, or 429 while locked)."""
        client = await self._client(ClientCredentials(client_id, secret), ip, required=True)
        assert client is not None
        return client

    async def _client(
        self, credentials: ClientCredentials | None, ip: str, *, required: bool
    ) -> ApiClient | None:
        if credentials is None:
            if required:
                raise OAuthError("invalid_client", "client authentication is required", 401)
            return None
        keys = [f"client:{credentials.client_id}", f"ip:{ip}"]
        await self._check(keys)
        client = await self.clients.authenticate(credentials.client_id, credentials.secret)
        if client is None:
            await self.throttle.failed(keys)
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
        await self.throttle.succeeded(keys)
        return client

    async def _password(
        self,
        form: Mapping[str, str],
        requested: frozenset[str] | None,
        client: ApiClient | None,
        ip: str,
    ) -> Grant:
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required")
        email = username.strip().lower()
        keys = [f"user:{email}", f"ip:{ip}"]
        await self._check(keys)
        login = await self.logins.by_email(email)
        ok = await verify_password(login.password_hash if login else None, password)
        if not ok or login is None or not login.active:
            await self.throttle.failed(keys)
            raise OAuthError("invalid_grant", "wrong username or password")
        await self.throttle.succeeded(keys)
        return Grant(
            login.customer_id,
            CUSTOMER_ROLE,
            _narrow(CUSTOMER_SCOPES, requested),
            client.client_id if client else None,
            with_refresh=True,
        )

    async def _refresh(
        self,
        form: Mapping[str, str],
        requested: frozenset[str] | None,
        client: ApiClient | None,
    ) -> Grant:
        presented = form.get("refresh_token", "")
        if not presented:
            raise OAuthError("invalid_request", "refresh_token is required")
        redeemed = await self.refresh_tokens.redeem(
            _digest(presented), client.client_id if client else None, self.clock.now()
        )
        if redeemed.refusal is not None:
            raise OAuthError("invalid_grant", redeemed.refusal)
        row = redeemed.record
        assert row is not None
        if not await self.logins.is_active(row.subject):
            raise OAuthError("invalid_grant", "the account is no longer active")
        return Grant(
            row.subject,
            CUSTOMER_ROLE,
            _narrow(row.scopes, requested),
            row.client_id,
            with_refresh=True,
        )

    async def _issue(self, grant: Grant) -> dict[str, Any]:
        key = await self.keys.signer()
        now = self.clock.now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": grant.subject,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.access_ttl,
            "jti": str(uuid.uuid4()),
            "scope": format_scopes(grant.scopes),
            "role": grant.role,
        }
        if grant.client_id:
            claims["client_id"] = grant.client_id
        token = jwt.encode(claims, key.private_key, algorithm=ALG, headers={"kid": key.kid})
        response: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "scope": claims["scope"],
        }
        if grant.with_refresh:
            response["refresh_token"] = await self._new_refresh(grant, now)
        return response

    async def _new_refresh(self, grant: Grant, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        await self.refresh_tokens.add(
            RefreshRecord(
                token_hash=_digest(token),
                subject=grant.subject,
                client_id=grant.client_id,
                scopes=grant.scopes,
                created_at=now,
                expires_at=now + self.refresh_ttl,
            )
        )
        return token

    async def _check(self, keys: list[str]) -> None:
        try:
            await self.throttle.check(keys)
        except Locked as exc:
            raise OAuthLocked(exc.retry_after) from None


class OAuthLocked(OAuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "invalid_request", f"too many failed attempts; retry after {retry_after} s", 429
        )
        self.retry_after = retry_after


def _narrow(allowed: frozenset[str], requested: frozenset[str] | None) -> frozenset[str]:
    if requested is None:
        return allowed
    if not requested or not requested <= allowed:
        extra = sorted(requested - allowed) or ["(empty)"]
        raise OAuthError("invalid_scope", f"scope {extra[0]!r} is not granted to this client")
    return requested


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

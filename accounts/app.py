"""Wiring of the accounts service: the only place that picks its implementations."""

from __future__ import annotations

from accounts import api
from accounts.adapters.identity import (
    SqlClientRecords,
    SqlCustomerLogins,
    SqlFailureCounts,
    SqlKeyRecords,
    SqlRefreshTokens,
)
from accounts.identity import api as identity_api
from accounts.identity.bootstrap import IdentityBootstrap
from accounts.identity.clients import ClientStore
from accounts.identity.keys import KeyStore
from accounts.identity.throttle import Throttle
from accounts.identity.tokens import TokenService
from accounts.repository import SqlAccountsUnitOfWork
from accounts.service import AccountsService
from accounts.store import kernel, metadata
from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

TITLE = "chargepark accounts"


def client_store(db: Database, clock: Clock) -> ClientStore:
    return ClientStore(SqlClientRecords(db), clock)


def keys_on(
    db: Database,
    clock: Clock,
    *,
    token_ttl: int,
    secret: str | None = None,
    cache_sec: float = 30.0,
) -> KeyStore:
    return KeyStore(
        SqlKeyRecords(db), clock, token_ttl=token_ttl, secret=secret, cache_sec=cache_sec
    )


def token_service(
    db: Database,
    keys: KeyStore,
    clients: ClientStore,
    clock: Clock,
    *,
    issuer: str,
    access_ttl: int,
    refresh_ttl: int,
) -> TokenService:
    return TokenService(
        SqlCustomerLogins(db),
        SqlRefreshTokens(db),
        keys,
        clients,
        Throttle(SqlFailureCounts(db), clock),
        clock,
        issuer=issuer,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )


def key_store(ctx: ServiceContext) -> KeyStore:
    auth = ctx.settings.auth
    return keys_on(ctx.db, ctx.clock, token_ttl=auth.access_token_ttl, secret=auth.key_secret)


def build(ctx: ServiceContext) -> ServiceParts:
    auth = ctx.settings.auth
    keys = key_store(ctx)
    clients = client_store(ctx.db, ctx.clock)
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = AccountsService(ctx.units_of_work(SqlAccountsUnitOfWork), ctx.clock)
    app[identity_api.KEYS] = keys
    app[identity_api.TOKENS] = token_service(
        ctx.db,
        keys,
        clients,
        ctx.clock,
        issuer=auth.issuer,
        access_ttl=auth.access_token_ttl,
        refresh_ttl=auth.refresh_token_ttl,
    )
    app.add_routes(api.routes)
    app.add_routes(identity_api.routes)
    bootstrap = IdentityBootstrap(keys, clients, auth, ctx.announce)
    return ServiceParts(app=app, servers=[bootstrap])


DEFINITION = ServiceDefinition(
    name="accounts", title=TITLE, metadata=metadata, tables=kernel, build=build
)

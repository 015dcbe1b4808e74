"""Wiring of the accounts service: the only place that picks its implementations."""

from __future__ import annotations

from accounts import api
from accounts.identity import api as identity_api
from accounts.identity.bootstrap import IdentityBootstrap
from accounts.identity.clients import ClientStore
from accounts.identity.keys import KeyStore
from accounts.identity.throttle import Throttle
from accounts.identity.tokens import TokenService
from accounts.repository import AccountsUnitOfWork
from accounts.service import AccountsService
from accounts.store import kernel, metadata
from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

TITLE = "chargepark accounts"


def key_store(ctx: ServiceContext) -> KeyStore:
    auth = ctx.settings.auth
    return KeyStore(ctx.db, ctx.clock, token_ttl=auth.access_token_ttl, secret=auth.key_secret)


def build(ctx: ServiceContext) -> ServiceParts:
    auth = ctx.settings.auth
    keys = key_store(ctx)
    clients = ClientStore(ctx.db, ctx.clock)
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = AccountsService(ctx.units_of_work(AccountsUnitOfWork), ctx.clock)
    app[identity_api.KEYS] = keys
    app[identity_api.TOKENS] = TokenService(
        ctx.db,
        keys,
        clients,
        Throttle(ctx.db, ctx.clock),
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

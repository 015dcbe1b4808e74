"""The accounts issuer's HTTP endpoints on their own, for tests that need real tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import insert

from accounts.app import client_store, keys_on, token_service
from accounts.identity import api as identity_api
from accounts.identity.clients import ClientStore
from accounts.identity.keys import KeyStore
from accounts.identity.tokens import TokenService
from accounts.store import customers
from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.events.inprocess import InProcessBus
from chargepark.http.app import make_service_app
from chargepark.passwords import hash_password
from tests.support import templates
from tests.support.context import a_context

ISSUER = "chargepark"


@dataclass
class Issuer:
    app: web.Application
    keys: KeyStore
    clients: ClientStore
    tokens: TokenService


async def an_issuer(db: Database, clock: Clock, *, key_secret: str | None = None) -> Issuer:
    await templates.migrated("accounts", db)
    keys = keys_on(db, clock, token_ttl=900, secret=key_secret, cache_sec=0)
    clients = client_store(db, clock)
    tokens = token_service(
        db,
        keys,
        clients,
        clock,
        issuer=ISSUER,
        access_ttl=900,
        refresh_ttl=3600,
    )
    app = make_service_app(a_context(db, InProcessBus(), name="accounts"), "issuer")
    app[identity_api.KEYS] = keys
    app[identity_api.TOKENS] = tokens
    app.add_routes(identity_api.routes)
    return Issuer(app, keys, clients, tokens)


async def a_customer(
    db: Database, clock: Clock, email: str, password: str, status: str = "active"
) -> str:
    customer_id = str(uuid.uuid4())
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(customers),
            {
                "id": customer_id,
                "name": "Test Driver",
                "email": email,
                "password_hash": await hash_password(password),
                "status": status,
                "created_at": clock.now(),
                "updated_at": clock.now(),
            },
        )
    return customer_id

"""Every route of every service, through the embedded platform: the token rules hold.

No token: 401. A token without the route's scope: 403. A token with it: neither. Tokens come
from the platform's own issuer, and each service verifies them against its JWKS over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from argon2 import PasswordHasher

from accounts.app import client_store
from accounts.identity.scopes import ALL_SCOPES
from chargepark import passwords
from chargepark.auth import PUBLIC_ATTR, SCOPE_ATTR
from chargepark.platform.config import MOUNT_PREFIXES, SERVICES, load_settings
from chargepark.platform.runtime import Platform
from tests.support import templates
from tests.support.procs import free_port

BOOTSTRAP = {
    "CHARGEPARK_BOOTSTRAP_CLIENT_ID": "route-test",
    "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": "route-test-secret-0123456789",
}


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The route test makes an API client (an argon2 hash, then a verify) per scope set, some
    thirty: with the cheapest parameters. Production's are what tests/integration uses."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))


@pytest.fixture
async def platform(tmp_path) -> AsyncIterator[Platform]:
    settings = load_settings(
        {"CHARGEPARK_DATA_DIR": str(tmp_path), **BOOTSTRAP},
        {"http_port": free_port(), "ocpp_port": free_port()},
    )
    platform = Platform(settings, SERVICES)
    await templates.seed(settings)
    await platform.start()
    yield platform
    await platform.stop()


def protected_routes(platform: Platform) -> list[tuple[str, str, str | None]]:
    found = []
    for host in platform.hosts:
        assert host.parts is not None
        for route in host.parts.app.router.routes():
            if route.method == "HEAD" or getattr(route.handler, PUBLIC_ATTR, False):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.resource.canonical)
            found.append((route.method, path, getattr(route.handler, SCOPE_ATTR, None)))
    return found


class Tokens:
    def __init__(self, platform: Platform, http: aiohttp.ClientSession) -> None:
        self.platform, self.http = platform, http
        accounts = next(h for h in platform.hosts if h.name == "accounts")
        assert accounts.db is not None
        self.clients = client_store(accounts.db, platform.clock)
        self._cache: dict[frozenset[str], str] = {}

    async def with_scopes(self, scopes: frozenset[str]) -> str:
        if scopes not in self._cache:
            new = await self.clients.create("route test", scopes)
            url = f"{self.platform.base_url}/accounts/auth/token"
            form = {
                "grant_type": "client_credentials",
                "client_id": new.client.client_id,
                "client_secret": new.secret,
            }
            async with self.http.post(url, data=form) as r:
                assert r.status == 200, await r.text()
                self._cache[scopes] = (await r.json())["access_token"]
        return self._cache[scopes]


async def test_every_route_needs_a_token_with_its_scope(platform):
    routes = protected_routes(platform)
    assert routes, "services expose protected routes"
    undeclared = [(m, p) for m, p, scope in routes if scope is None]
    assert undeclared == [], "every protected route declares its scope"
    async with aiohttp.ClientSession() as http:
        tokens = Tokens(platform, http)
        for method, path, scope in routes:
            url = platform.base_url + path
            async with http.request(method, url) as r:
                assert r.status == 401, (method, path, r.status)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = await tokens.with_scopes(frozenset(ALL_SCOPES - {scope, "admin"}))
            async with http.request(method, url, headers={"Authorization": f"Bearer {wrong}"}) as r:
                assert r.status == 403, (method, path, r.status)
            right = await tokens.with_scopes(frozenset({scope}))
            async with http.request(method, url, headers={"Authorization": f"Bearer {right}"}) as r:
                assert r.status not in (401, 403), (method, path, r.status, await r.text())


async def test_the_public_routes_need_no_token(platform):
    async with aiohttp.ClientSession() as http:
        for service in SERVICES:
            for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
                async with http.get(platform.base_url + MOUNT_PREFIXES[service] + path) as r:
                    assert r.status == 200, (service, path)
        for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
            async with http.get(platform.base_url + "/accounts" + path) as r:
                assert r.status == 200


async def test_a_customer_logs_in_and_reaches_only_its_own_data(platform):
    base = platform.base_url + "/accounts"
    async with aiohttp.ClientSession() as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": BOOTSTRAP["CHARGEPARK_BOOTSTRAP_CLIENT_ID"],
            "client_secret": BOOTSTRAP["CHARGEPARK_BOOTSTRAP_CLIENT_SECRET"],
        }
        async with http.post(f"{base}/auth/token", data=form) as r:
            admin = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        ids = {}
        for who in ("ann", "bob"):
            body = {"name": who.title(), "email": f"{who}@example.com", "password": f"{who}-pass-1"}
            async with http.post(f"{base}/customers", json=body, headers=admin) as r:
                assert r.status == 201, await r.text()
                ids[who] = (await r.json())["id"]

        login = {"grant_type": "password", "username": "ann@example.com", "password": "ann-pass-1"}
        async with http.post(f"{base}/auth/token", data=login) as r:
            tokens = await r.json()
        ann = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with http.get(f"{base}/customers/{ids['ann']}", headers=ann) as r:
            assert r.status == 200 and (await r.json())["email"] == "ann@example.com"
        async with http.get(f"{base}/customers/{ids['bob']}", headers=ann) as r:
            assert r.status == 404
        async with http.get(f"{base}/customers?query=bob", headers=ann) as r:
            assert r.status == 403
        async with http.get(platform.base_url + "/ops/metrics", headers=ann) as r:
            assert r.status == 200  # public

        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        async with http.post(f"{base}/auth/token", data=refresh) as r:
            again = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        async with http.get(f"{base}/customers/{ids['ann']}", headers=again) as r:
            assert r.status == 200

"""Bearer tokens over real HTTP: who gets in, what they may do, and where the keys come from."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from chargepark.auth import (
    PRINCIPAL,
    InvalidToken,
    RemoteJwks,
    StaticJwks,
    TokenVerifier,
    auth_middleware,
    public,
    requires,
)
from chargepark.http.problem import PROBLEM_JSON, problem_middleware
from tests.support.tokens import TokenIssuer

# --- a small service with one route of each kind ---------------------------------------------


def _who(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    return web.json_response({"subject": principal.subject, "scopes": sorted(principal.scopes)})


@public
async def lobby(request: web.Request) -> web.Response:
    return web.json_response({"open": True})


@requires("parking:write")
async def book_bay(request: web.Request) -> web.Response:
    return _who(request)


async def whoami(request: web.Request) -> web.Response:
    return _who(request)


def make_app(verifier: TokenVerifier) -> web.Application:
    app = web.Application(middlewares=[problem_middleware, auth_middleware(verifier)])
    app.router.add_get("/lobby", lobby)
    app.router.add_post("/bays", book_bay)
    app.router.add_get("/me", whoami)
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], signature: bytes | None = None, **claims: Any) -> str:
    """A JWT put together by hand, for the algorithms a proper library refuses to sign with."""
    now = int(time.time())
    payload = {"sub": "mallory", "scope": "admin", "iat": now, "exp": now + 300, **claims}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(signature or b'')}"


def hs256_token(secret: bytes, kid: str) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    unsigned = hand_made_token(header).rsplit(".", 1)[0]
    mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{_b64(mac)}"


async def assert_unauthorized(resp, error: str | None = "invalid_token") -> dict[str, Any]:
    assert resp.status == 401
    assert resp.content_type == PROBLEM_JSON
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    if error:
        assert f'error="{error}"' in challenge
    body = await resp.json(content_type=PROBLEM_JSON)
    assert body["status"] == 401
    return body


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def client(aiohttp_client, issuer):
    return await aiohttp_client(make_app(TokenVerifier(StaticJwks(issuer.jwks))))


# --- who gets in ------------------------------------------------------------------------------


async def test_a_request_without_a_token_is_refused_with_a_bearer_challenge(client):
    resp = await client.get("/me")
    body = await assert_unauthorized(resp, error=None)
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert body["type"] == "urn:chargepark:problem:unauthorized"


async def test_another_authorization_scheme_counts_as_no_token(client, issuer):
    resp = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    await assert_unauthorized(resp, error=None)
    resp = await client.get("/me", headers={"Authorization": "Bearer"})
    await assert_unauthorized(resp, error=None)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "e30.e30.e30"])
async def test_a_malformed_token_is_refused(client, token):
    await assert_unauthorized(await client.get("/me", headers=bearer(token)))


async def test_a_valid_token_reaches_the_handler_with_its_subject_and_scopes(client, issuer):
    token = issuer.issue(["parking:write", "parking:read"], sub="driver-42")
    resp = await client.post("/bays", headers=bearer(token))
    assert resp.status == 200
    assert await resp.json() == {
        "subject": "driver-42",
        "scopes": ["parking:read", "parking:write"],
    }


async def test_a_route_without_a_scope_takes_any_valid_token(client, issuer):
    resp = await client.get("/me", headers=bearer(issuer.issue([], sub="someone")))
    assert resp.status == 200
    assert await resp.json() == {"subject": "someone", "scopes": []}


async def test_the_admin_scope_passes_any_scope_check(client, issuer):
    resp = await client.post("/bays", headers=bearer(issuer.issue(["admin"])))
    assert resp.status == 200
    assert (await resp.json())["scopes"] == ["admin"]


async def test_a_token_without_the_needed_scope_is_forbidden_and_told_which_scope(client, issuer):
    resp = await client.post("/bays", headers=bearer(issuer.issue(["parking:read"])))
    assert resp.status == 403
    assert resp.content_type == PROBLEM_JSON
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="parking:write"' in challenge
    body = await resp.json(content_type=PROBLEM_JSON)
    assert body["status"] == 403
    assert body["type"] == "urn:chargepark:problem:insufficient-scope"
    assert "parking:write" in body["detail"]


async def test_scopes_may_come_as_a_space_separated_string_or_as_a_list(client, issuer):
    as_string = issuer.issue("parking:read parking:write")
    as_list = issuer.issue(["parking:read", "parking:write"])
    assert jwt.decode(as_string, options={"verify_signature": False})["scope"] == (
        "parking:read parking:write"
    )
    assert jwt.decode(as_list, options={"verify_signature": False})["scope"] == [
        "parking:read",
        "parking:write",
    ]
    for token in (as_string, as_list):
        resp = await client.post("/bays", headers=bearer(token))
        assert resp.status == 200
        assert (await resp.json())["scopes"] == ["parking:read", "parking:write"]


async def test_a_public_route_needs_no_token_and_ignores_a_bad_one(client):
    assert (await client.get("/lobby")).status == 200
    resp = await client.get("/lobby", headers=bearer("garbage"))
    assert resp.status == 200
    assert await resp.json() == {"open": True}


async def test_an_unknown_path_answers_404_not_401(client):
    resp = await client.get("/nowhere")
    assert resp.status == 404
    assert resp.content_type == PROBLEM_JSON


async def test_eddsa_tokens_verify(client, issuer):
    resp = await client.post("/bays", headers=bearer(issuer.issue(["parking:write"], alg="EdDSA")))
    assert resp.status == 200


# --- expiry -----------------------------------------------------------------------------------


async def test_a_token_expired_beyond_the_leeway_is_refused(client, issuer):
    body = await assert_unauthorized(
        await client.get("/me", headers=bearer(issuer.issue(expires_in=-60)))
    )
    assert "expired" in body["detail"]


async def test_a_token_expired_within_the_30_second_leeway_still_passes(client, issuer):
    resp = await client.get("/me", headers=bearer(issuer.issue(expires_in=-10)))
    assert resp.status == 200


async def test_a_token_without_an_expiry_or_a_subject_is_refused(client, issuer):
    for missing in ("exp", "sub"):
        token = issuer.issue(["admin"], **{missing: None})
        body = await assert_unauthorized(await client.get("/me", headers=bearer(token)))
        assert missing in body["detail"]


# --- forged tokens ----------------------------------------------------------------------------


async def test_a_token_naming_a_key_the_jwks_does_not_hold_is_refused(client, issuer):
    token = issuer.issue(["admin"], kid="rsa-unknown")
    body = await assert_unauthorized(await client.get("/me", headers=bearer(token)))
    assert "unknown key" in body["detail"]


async def test_a_token_with_a_known_kid_but_signed_by_another_key_is_refused(client, issuer):
    impostor = TokenIssuer(rsa_kid=issuer.rsa_kid, ed_kid=issuer.ed_kid)
    for alg in ("RS256", "EdDSA"):
        token = impostor.issue(["admin"], alg=alg)
        await assert_unauthorized(await client.get("/me", headers=bearer(token)))


async def test_an_alg_none_token_is_refused(client, issuer):
    for alg in ("none", "None", "NONE"):
        token = hand_made_token({"alg": alg, "typ": "JWT", "kid": issuer.rsa_kid})
        await assert_unauthorized(await client.get("/me", headers=bearer(token)))


async def test_an_hs256_token_keyed_with_the_rsa_public_pem_is_refused(client, issuer):
    token = hs256_token(issuer.rsa_public_pem, kid=issuer.rsa_kid)
    body = await assert_unauthorized(await client.post("/bays", headers=bearer(token)))
    assert "HS256" in body["detail"]


async def test_a_token_whose_header_alg_differs_from_the_keys_alg_is_refused(client, issuer):
    # an Ed25519 signature presented under the RSA key's kid
    token = issuer.issue(["admin"], alg="EdDSA", kid=issuer.rsa_kid)
    await assert_unauthorized(await client.get("/me", headers=bearer(token)))


# --- keys fetched from the issuer -------------------------------------------------------------


class JwksEndpoint:
    """The issuer's JWKS URL: serves whatever key set the test puts in `jwks`, counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.fetches = 0
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response(self.jwks)


@pytest.fixture
async def jwks_endpoint(aiohttp_server, issuer):
    endpoint = JwksEndpoint(issuer.jwks)
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", endpoint.handle)
    endpoint.server = await aiohttp_server(app)
    endpoint.url = str(endpoint.server.make_url("/.well-known/jwks.json"))
    return endpoint


async def remote_client(aiohttp_client, url: str, **options: float):
    return await aiohttp_client(make_app(TokenVerifier(RemoteJwks(url, **options))))


async def test_remote_keys_are_fetched_once_and_then_served_from_the_cache(
    aiohttp_client, jwks_endpoint, issuer
):
    client = await remote_client(aiohttp_client, jwks_endpoint.url)
    for alg in ("RS256", "EdDSA", "RS256", "EdDSA"):
        resp = await client.post("/bays", headers=bearer(issuer.issue(["parking:write"], alg=alg)))
        assert resp.status == 200
    assert jwks_endpoint.fetches == 1


async def test_concurrent_first_requests_share_a_single_fetch(
    aiohttp_client, jwks_endpoint, issuer
):
    jwks_endpoint.delay = 0.05
    client = await remote_client(aiohttp_client, jwks_endpoint.url)
    token = issuer.issue(["parking:write"])
    responses = await asyncio.gather(
        *(client.post("/bays", headers=bearer(token)) for _ in range(8))
    )
    assert [r.status for r in responses] == [200] * 8
    assert jwks_endpoint.fetches == 1


async def test_a_rotated_key_is_picked_up_by_one_refetch_for_its_unknown_kid(
    aiohttp_client, jwks_endpoint, issuer
):
    client = await remote_client(aiohttp_client, jwks_endpoint.url, min_refetch=0)
    assert (await client.get("/me", headers=bearer(issuer.issue()))).status == 200
    assert jwks_endpoint.fetches == 1

    rotated = TokenIssuer(rsa_kid="rsa-2", ed_kid="ed-2")
    jwks_endpoint.jwks = rotated.jwks
    resp = await client.get("/me", headers=bearer(rotated.issue(sub="after-rotation")))
    assert resp.status == 200
    assert (await resp.json())["subject"] == "after-rotation"
    assert jwks_endpoint.fetches == 2

    resp = await client.get("/me", headers=bearer(rotated.issue(alg="EdDSA")))
    assert resp.status == 200
    assert jwks_endpoint.fetches == 2


async def test_unknown_kids_do_not_refetch_more_often_than_min_refetch(
    aiohttp_client, jwks_endpoint, issuer
):
    client = await remote_client(aiohttp_client, jwks_endpoint.url, min_refetch=60)
    assert (await client.get("/me", headers=bearer(issuer.issue()))).status == 200
    for n in range(5):
        token = issuer.issue(kid=f"made-up-{n}")
        await assert_unauthorized(await client.get("/me", headers=bearer(token)))
    assert jwks_endpoint.fetches == 1


async def test_a_kid_still_unknown_after_the_refetch_is_refused(
    aiohttp_client, jwks_endpoint, issuer
):
    client = await remote_client(aiohttp_client, jwks_endpoint.url, min_refetch=0)
    assert (await client.get("/me", headers=bearer(issuer.issue()))).status == 200
    body = await assert_unauthorized(
        await client.get("/me", headers=bearer(issuer.issue(kid="never-published")))
    )
    assert "unknown key" in body["detail"]
    assert jwks_endpoint.fetches == 2


async def test_cached_keys_keep_verifying_while_the_issuer_is_down(
    aiohttp_client, jwks_endpoint, issuer, caplog
):
    # ttl=0: every request wants fresh keys, so each one meets the dead issuer
    client = await remote_client(aiohttp_client, jwks_endpoint.url, ttl=0, min_refetch=0)
    assert (await client.get("/me", headers=bearer(issuer.issue()))).status == 200
    await jwks_endpoint.server.close()
    for alg in ("RS256", "EdDSA"):
        resp = await client.post("/bays", headers=bearer(issuer.issue(["parking:write"], alg=alg)))
        assert resp.status == 200
    assert [r.message for r in caplog.records].count("JWKS fetch failed") == 2
    await assert_unauthorized(await client.get("/me", headers=bearer(issuer.issue(kid="new"))))


async def test_an_issuer_that_was_never_reachable_means_401(aiohttp_client, issuer):
    url = f"http://127.0.0.1:{unused_port()}/.well-known/jwks.json"
    client = await remote_client(aiohttp_client, url, min_refetch=0)
    body = await assert_unauthorized(await client.get("/me", headers=bearer(issuer.issue())))
    assert "unavailable" in body["detail"]


@pytest.mark.parametrize(
    "status, body",
    [(503, "try later"), (200, "<html>not json</html>"), (200, "[]"), (200, '{"keys": [1]}')],
)
async def test_an_issuer_answering_something_other_than_a_jwks_means_401(
    aiohttp_client, aiohttp_server, issuer, status, body
):
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/jwks", broken)
    server = await aiohttp_server(app)
    client = await remote_client(aiohttp_client, str(server.make_url("/jwks")), min_refetch=0)
    await assert_unauthorized(await client.get("/me", headers=bearer(issuer.issue())))


async def test_a_failing_issuer_is_not_asked_again_within_min_refetch(
    aiohttp_client, aiohttp_server, issuer
):
    attempts = 0

    async def down(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/jwks", down)
    server = await aiohttp_server(app)
    client = await remote_client(aiohttp_client, str(server.make_url("/jwks")), min_refetch=60)
    for _ in range(4):
        await assert_unauthorized(await client.get("/me", headers=bearer(issuer.issue())))
    assert attempts == 1


async def test_an_unusable_key_in_the_jwks_is_skipped_and_the_others_still_work(
    aiohttp_client, issuer
):
    garbled = [
        {"kty": "OKP", "crv": "Ed25519", "x": "!!", "kid": "broken-1"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RSA-OAEP", "kid": "broken-2"},
        "not a key",
    ]
    jwks = {"keys": [*garbled, *issuer.jwks["keys"]]}
    client = await aiohttp_client(make_app(TokenVerifier(StaticJwks(jwks))))
    for alg in ("RS256", "EdDSA"):
        assert (await client.get("/me", headers=bearer(issuer.issue(alg=alg)))).status == 200
    await assert_unauthorized(await client.get("/me", headers=bearer(issuer.issue(kid="broken-1"))))


# --- verification kept per token --------------------------------------------------------------


class CountingKeys:
    def __init__(self, inner: StaticJwks) -> None:
        self.inner = inner
        self.lookups = 0

    async def key_for(self, kid: str | None) -> Any:
        self.lookups += 1
        return await self.inner.key_for(kid)


async def test_a_token_is_verified_once_and_its_result_kept_until_it_expires(issuer):
    keys = CountingKeys(StaticJwks(issuer.jwks))
    verifier = TokenVerifier(keys, leeway=0)
    token = issuer.issue("parking:read", sub="op-1", expires_in=1)
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert again is first and keys.lookups == 1
    # Another token is verified on its own, and a tampered one never matches a kept result.
    other = issuer.issue("parking:read", sub="op-2", expires_in=60)
    assert (await verifier.verify(other)).subject == "op-2" and keys.lookups == 2
    with pytest.raises(InvalidToken):
        await verifier.verify(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    # Past its expiry the kept result is dropped and the token refused.
    await asyncio.sleep(1.2)
    with pytest.raises(InvalidToken):
        await verifier.verify(token)

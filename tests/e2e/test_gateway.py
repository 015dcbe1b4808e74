"""The gateway as docker-compose.yml runs it (deploy/nginx/nginx.conf.template, Debian's nginx)
in front of the real accounts service and stand-ins for the others that record what reaches them.

Shows routing with the prefix stripped, the public paths, the token check at the edge (401 before
any service is reached, cached introspection), 413, 429 and the OCPP WebSocket with the csms node
picked by the charge point id. tests/e2e/test_distributed.py drives the real services through
the same gateway.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import websockets
from yarl import URL

from tests.support.gateway import GATEWAY_CLIENT, _gateway, _token
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer


@pytest.fixture
async def token(gateway) -> str:
    return await _token(gateway)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def problem(r: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert r.status == status, await r.text()
    assert r.content_type == "application/problem+json"
    body = json.loads(await r.text())
    assert body["status"] == status
    assert r.headers["X-Correlation-ID"]
    return body


def introspections(accounts: str) -> int:
    """How many introspection requests accounts has answered (its own request metrics)."""
    with urllib.request.urlopen(f"{accounts}/metrics", timeout=5) as r:
        text = r.read().decode()
    pattern = re.compile(r"^chargepark_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.M)
    return int(
        sum(
            float(value)
            for labels, value in pattern.findall(text)
            if 'route="/auth/introspect"' in labels
        )
    )


async def test_each_prefix_reaches_its_service_with_the_prefix_stripped(gateway, stubs, token):
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        for prefix, service in (
            ("charging", "csms"),
            ("parking", "parking"),
            ("billing", "billing"),
            ("ops", "ops"),
        ):
            r = await http.get(
                f"{gateway.base_url}/{prefix}/things/1?x=1", headers={"X-Correlation-ID": "c-1"}
            )
            assert r.status == 200, await r.text()
            seen = await r.json()
            assert seen["service"] == service
            assert seen["path"] == "/things/1?x=1"
            # The service gets the token too: it checks it itself as well.
            assert seen["authorization"] == f"Bearer {token}"
            assert seen["correlation_id"] == "c-1"
        r = await http.get(f"{gateway.base_url}/nowhere/at/all")
        assert (await problem(r, 404))["detail"] == "No service answers at this path"


async def test_public_paths_pass_without_a_token(gateway, stubs):
    async with aiohttp.ClientSession() as http:
        for path in (
            "/parking/healthz",
            "/charging/readyz",
            "/ops/metrics",
            "/billing/openapi.json",
        ):
            r = await http.get(gateway.base_url + path)
            assert r.status == 200, (path, await r.text())
        r = await http.post(f"{gateway.base_url}/billing/stripe/webhook", data=b"{}")
        assert r.status == 200 and (await r.json())["path"] == "/stripe/webhook"
        r = await http.get(f"{gateway.base_url}/accounts/.well-known/jwks.json")
        assert r.status == 200 and (await r.json())["keys"]
        r = await http.get(f"{gateway.base_url}/accounts/.well-known/openid-configuration")
        assert r.status == 200
        # Only the exact path is public; a query string does not change that, other paths do.
        r = await http.get(f"{gateway.base_url}/parking/healthz?verbose=1")
        assert r.status == 200
        for path in ("/parking/healthz/../lots", "/parking/%68ealthz", "/parking/healthzz"):
            # Sent as written (the client would normalise the dots away).
            r = await http.get(URL(gateway.base_url + path, encoded=True))
            await problem(r, 401)


async def test_a_missing_or_bad_token_is_refused_at_the_edge(gateway, stubs, token):
    before = len(stubs["parking"].seen)
    head, payload, signature = token.split(".")
    forged = TokenIssuer().issue("admin", iss="chargepark", aud="chargepark")
    async with aiohttp.ClientSession() as http:
        r = await http.get(f"{gateway.base_url}/parking/lots")
        await problem(r, 401)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="chargepark"'
        for bad in (f"{head}.{payload}.{signature[::-1]}", forged, "garbage", "a b"):
            r = await http.get(f"{gateway.base_url}/parking/lots", headers=bearer(bad))
            body = await problem(r, 401)
            assert "gateway" in body["detail"]
            assert r.headers["WWW-Authenticate"] == (
                'Bearer realm="chargepark", error="invalid_token"'
            ), bad
        r = await http.get(
            f"{gateway.base_url}/parking/lots", headers={"Authorization": "Basic eDp5"}
        )
        await problem(r, 401)
    # None of them reached the service; the access log shows nginx answered each itself.
    assert len(stubs["parking"].seen) == before
    refused: list[dict[str, Any]] = []
    for _ in range(50):  # nginx writes a line once the response is sent
        log = gateway.access_log()
        refused = [e for e in log if e["uri"] == "/parking/lots" and e["status"] == 401]
        if len(refused) >= 6:
            break
        await asyncio.sleep(0.05)
    assert len(refused) >= 6
    assert not [e for e in refused if stubs["parking"].address in e["upstream"]]


async def test_introspection_answers_are_cached_for_a_few_seconds(gateway, accounts):
    token = await _token(gateway, scope="parking:read")
    before = introspections(accounts)
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        for _ in range(10):
            r = await http.get(f"{gateway.base_url}/parking/lots")
            assert r.status == 200
        bad = bearer(token[:-4] + "AAAA")
        for _ in range(5):
            r = await http.get(f"{gateway.base_url}/parking/lots", headers=bad)
            assert r.status == 401
    # One check for the good token and one for the bad one: the rest came from the cache.
    assert introspections(accounts) - before == 2


async def test_a_body_over_the_limit_is_refused_with_413(gateway, stubs, token):
    before = len(stubs["parking"].seen)
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        r = await http.post(
            f"{gateway.base_url}/parking/lots", data=io.BytesIO(b"x" * (1024 * 1024 + 1))
        )
        body = await problem(r, 413)
        assert "1 MiB" in body["detail"]
        r = await http.post(
            f"{gateway.base_url}/parking/lots", data=io.BytesIO(b"x" * (1024 * 1024 - 100))
        )
        assert r.status == 200 and (await r.json())["bytes"] == 1024 * 1024 - 100
    assert len(stubs["parking"].seen) == before + 1


async def test_a_burst_past_the_rate_limit_gets_429_with_retry_after(gateway, stubs):
    token = await _token(gateway, scope="ops:read")
    before = len(stubs["ops"].seen)
    async with aiohttp.ClientSession(headers=bearer(token)) as http:

        async def one() -> tuple[int, str | None, str]:
            async with http.get(f"{gateway.base_url}/ops/alerts") as r:
                return r.status, r.headers.get("Retry-After"), await r.text()

        results = await asyncio.gather(*(one() for _ in range(120)))
    statuses = [status for status, _, _ in results]
    limited = [(retry, text) for status, retry, text in results if status == 429]
    # 20 r/s with a burst of 40 per token: well over half of 120 at once are refused.
    assert statuses.count(200) >= 40 and len(limited) >= 60, statuses
    retry, text = limited[0]
    assert retry == "1"
    assert json.loads(text)["status"] == 429
    assert len(stubs["ops"].seen) - before == statuses.count(200)
    await asyncio.sleep(2.5)  # the bucket drains for the tests after this one


async def test_ocpp_websockets_reach_a_csms_node_picked_by_the_charge_point_id(gateway, ocpp_nodes):
    async def node_of(cp: str) -> str:
        async with websockets.connect(
            f"{gateway.ocpp_url}/{cp}", subprotocols=["ocpp1.6"], open_timeout=5
        ) as ws:
            assert ws.subprotocol == "ocpp1.6"
            await ws.send('[2,"1","Heartbeat",{}]')
            answer = json.loads(await ws.recv())
            assert answer["echo"] == '[2,"1","Heartbeat",{}]'
            return answer["node"]

    first = {cp: await node_of(cp) for cp in (f"CP-{i}" for i in range(12))}
    # The same charger reaches the same node each time; the chargers are spread over both.
    assert {cp: await node_of(cp) for cp in first} == first
    assert set(first.values()) == {"csms-1", "csms-2"}
    paths = [p for node in ocpp_nodes for p in node.paths]
    assert "/ocpp/CP-0" in paths  # the path passes unchanged
    # No bearer token is asked for on the OCPP path (chargers use Basic auth, checked by csms).


def test_a_gateway_whose_introspection_client_is_refused_answers_502(
    tmp_path, accounts, stubs, ocpp_nodes
):
    gw = _gateway(tmp_path, accounts, stubs, ocpp_nodes, "not-the-secret")
    gw.start()
    try:
        token = asyncio.run(_token(gw))
        request = urllib.request.Request(f"{gw.base_url}/parking/lots", headers=bearer(token))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        with refused.value:
            assert refused.value.code == 502
            assert "introspection client" in json.loads(refused.value.read())["detail"]
    finally:
        gw.stop()


def test_a_gateway_that_cannot_reach_accounts_answers_503(tmp_path, stubs, ocpp_nodes):
    gw = _gateway(tmp_path, f"http://127.0.0.1:{free_port()}", stubs, ocpp_nodes, "any-secret")
    gw.start()
    try:
        token = TokenIssuer().issue("parking:read")
        request = urllib.request.Request(f"{gw.base_url}/parking/lots", headers=bearer(token))
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=20)
        failed.value.close()
        assert failed.value.code == 503
        assert failed.value.headers["Content-Type"] == "application/problem+json"
        assert failed.value.headers["Retry-After"] == "5"
        # Public paths do not depend on accounts.
        with urllib.request.urlopen(f"{gw.base_url}/parking/healthz", timeout=10) as r:
            assert r.status == 200
    finally:
        gw.stop()


def test_a_service_that_is_down_answers_503_with_retry_after(tmp_path, accounts, stubs, ocpp_nodes):
    """Every server of an upstream refusing connections (killed, restarting) is a 503 with
    Retry-After, as a service's own 503 is, so clients wait and retry; not a 502."""
    down = SimpleNamespace(address=f"127.0.0.1:{free_port()}")
    gw = _gateway(tmp_path, accounts, {**stubs, "parking": down}, ocpp_nodes, GATEWAY_CLIENT[1])
    gw.start()
    try:
        token = asyncio.run(_token(gw, scope="parking:read"))
        request = urllib.request.Request(f"{gw.base_url}/parking/lots", headers=bearer(token))
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=20)
        with failed.value:
            assert failed.value.code == 503
            assert failed.value.headers["Content-Type"] == "application/problem+json"
            assert failed.value.headers["Retry-After"] == "2"
            assert failed.value.headers["X-Correlation-ID"]
            body = json.loads(failed.value.read())
        assert body["status"] == 503 and "not reachable" in body["detail"]
        # The other services behind the same gateway are not affected.
        ops = urllib.request.Request(f"{gw.base_url}/ops/alerts", headers=bearer(token))
        with urllib.request.urlopen(ops, timeout=10) as r:
            assert r.status == 200
    finally:
        gw.stop()

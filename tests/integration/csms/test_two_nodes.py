"""Two `chargepark serve csms` nodes on one PostgreSQL database and NATS: an operator's command,
remote start and remote stop sent to the node without the charger's socket reach the charger
through the node that holds it; the command log has each command once; a charger gone, or its
node killed, is a prompt 409 and a killed node's presence is cleared; a killed node's chargers
are seen disconnected and Offline once its heartbeat is stale, with no command needed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import web
from sqlalchemy import select

from csms.adapters.tables import charger_presence
from tests.contract.conftest import delete_stream
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http
from tests.support.services import NATS_URL, require_nats, unique_name
from tests.support.stations import EXCHANGES, Station201, simulated_charger_class
from tests.support.tokens import TokenIssuer

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

NODE_TIMEOUT = 4


@dataclass
class Node:
    node_id: str
    proc: subprocess.Popen[str]
    http: str
    ocpp: str

    def url(self, path: str) -> str:
        return self.http + path


@pytest.fixture
def schema_of() -> str:
    """The databases start migrated (copied from a template; `chargepark migrate` on
    PostgreSQL is tested in tests/e2e/test_distributed.py)."""
    return "csms"


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def jwks_url(issuer, aiohttp_server) -> str:
    app = web.Application()

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response(issuer.jwks)

    app.router.add_get("/jwks.json", jwks)
    server = await aiohttp_server(app)
    return str(server.make_url("/jwks.json"))


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    require_nats()
    name = unique_name("CSMS").upper()
    yield name
    await delete_stream(NATS_URL, name)


@pytest.fixture
def nodes(postgres_db, jwks_url, stream) -> Iterator[dict[str, Node]]:
    name = postgres_db.url.rsplit("/", 1)[1]
    host, port = postgres_db.engine.url.host, postgres_db.engine.url.port
    url = f"postgresql://postgres@{host}:{port}/{name}"
    started: dict[str, Node] = {}
    try:
        for node_id in ("node-a", "node-b"):
            http_port, ocpp_port = free_port(), free_port()
            env = clean_env(
                CHARGEPARK_JWKS_URL=jwks_url,
                CHARGEPARK_LOG_LEVEL="warning",
                CHARGEPARK_BUS_URL=NATS_URL,
                CHARGEPARK_BUS_STREAM=stream,
                CHARGEPARK_BUS_SUBJECT_PREFIX=stream.lower(),
                CHARGEPARK_NODE_ID=node_id,
                CHARGEPARK_HTTP_PORT=str(http_port),
                CHARGEPARK_OCPP_PORT=str(ocpp_port),
                CHARGEPARK_OCPP_OFFLINE_AUTH="accept",
                # Heartbeats every second; a node silent for 4 s is taken for dead.
                CHARGEPARK_CSMS_NODE_TIMEOUT=str(NODE_TIMEOUT),
            )
            proc = subprocess.Popen(
                [*CHARGEPARK, "serve", "csms", "--database-url", url],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            started[node_id] = Node(
                node_id, proc, f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ocpp_port}/ocpp"
            )
        for node in started.values():
            assert wait_http(node.url("/readyz")) == 200
        yield started
    finally:
        for node in started.values():
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in started.values():
            _, err = node.proc.communicate(timeout=30)
            assert "Traceback" not in err, err


@pytest.fixture
def headers(issuer) -> dict[str, str]:
    # Processes started by the CLI check the issuer and audience, as in production.
    token = issuer.issue("charging:read charging:write", iss="chargepark", aud="chargepark")
    return {"Authorization": f"Bearer {token}"}


class Station(Station201, simulated_charger_class("2.0.1")):  # type: ignore[misc]
    """Answers every 2.0.1 command with its canned answer, and acts on remote start and stop."""


async def connect(node: Node, cp_id: str) -> tuple[Any, Any, asyncio.Task[None]]:
    ws = await websockets.connect(f"{node.ocpp}/{cp_id}", subprotocols=["ocpp2.0.1"])
    client = Station(cp_id, ws)
    client.received = []
    return client, ws, asyncio.create_task(client.start())


async def charger(http: aiohttp.ClientSession, node: Node, cp_id: str, headers) -> dict[str, Any]:
    async with http.get(node.url(f"/chargers/{cp_id}"), headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def until_connected(http, node: Node, cp_id: str, headers, connected: bool) -> None:
    async with asyncio.timeout(10):
        while (await charger(http, node, cp_id, headers))["connected"] is not connected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_commands_and_remote_control_sent_to_one_node_reach_a_charger_on_the_other(
    nodes, headers
):
    a, b = nodes["node-a"], nodes["node-b"]
    async with aiohttp.ClientSession() as http:
        async with http.post(b.url("/chargers"), json={"id": "CP-X"}, headers=headers) as r:
            assert r.status == 201, await r.text()
        client, ws, listener = await connect(a, "CP-X")
        await until_connected(http, b, "CP-X", headers, True)
        assert (await charger(http, b, "CP-X", headers))["ocpp_version"] == "2.0.1"

        # A command through node b: the charger (on node a) gets it and its answer comes back.
        request, answer = EXCHANGES["2.0.1"]["GetVariables"]
        url = b.url("/chargers/CP-X/commands/GetVariables")
        async with http.post(url, json=request, headers=headers) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        assert body["response"] == answer and body["status"] == "answered"
        assert client.received == [("GetVariables", request)]

        # Remote start through node b (the charger never booted: its version is the socket's).
        start = {"charger_id": "CP-X", "id_token": "APP-1", "evse_id": 1}
        async with http.post(b.url("/sessions"), json=start, headers=headers) as r:
            assert r.status == 201, await r.text()
            started = await r.json()
        assert started["charger_connected"] is True
        session_url = b.url(f"/sessions/{started['session_id']}")
        async with asyncio.timeout(10):
            while True:
                async with http.get(session_url, headers=headers) as r:
                    session = await r.json()
                if session["status"] == "active":
                    break
                await asyncio.sleep(0.05)
        assert session["transaction_id"] == "RS-1" and session["charger_connected"] is True

        # Remote stop through node b: the charger ends the transaction through node a.
        async with http.patch(f"{session_url}/stop", headers=headers) as r:
            assert r.status == 200, await r.text()
            stopped = await r.json()
        assert stopped["status"] == "closed" and stopped["energy_wh"] == 10_000

        # Each command is in the log once, recorded by the node that was asked.
        async with http.get(a.url("/chargers/CP-X/commands"), headers=headers) as r:
            log = await r.json()
        assert [(c["action"], c["status"]) for c in log["items"]] == [
            ("RequestStopTransaction", "answered"),
            ("RequestStartTransaction", "answered"),
            ("GetVariables", "answered"),
        ]
        assert [a for a, _ in client.received] == [
            "GetVariables",
            "RequestStartTransaction",
            "RequestStopTransaction",
        ]

        # The charger goes: node b says so, and a command through it is a 409.
        listener.cancel()
        await ws.close()
        await until_connected(http, b, "CP-X", headers, False)
        url = b.url("/chargers/CP-X/commands/Reset")
        async with http.post(url, json={"type": "Immediate"}, headers=headers) as r:
            assert r.status == 409, await r.text()
            assert (await r.json())["type"] == "urn:chargepark:problem:charger-offline"


async def on_a_killed_node(http, nodes: dict[str, Node], cp_id: str, headers) -> Any:
    """`cp_id` registered, connected to node a, and node a killed; returns its socket."""
    a, b = nodes["node-a"], nodes["node-b"]
    async with http.post(b.url("/chargers"), json={"id": cp_id}, headers=headers) as r:
        assert r.status == 201, await r.text()
    _, ws, listener = await connect(a, cp_id)
    await until_connected(http, b, cp_id, headers, True)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    listener.cancel()
    return ws


async def test_a_killed_node_is_a_prompt_409_and_its_presence_is_cleared(
    nodes, headers, postgres_db
):
    b = nodes["node-b"]
    async with aiohttp.ClientSession() as http:
        ws = await on_a_killed_node(http, nodes, "CP-K", headers)
        # The row stays (nobody removed it): node b still thinks the charger is on node a.
        assert (await charger(http, b, "CP-K", headers))["connected"] is True

        began = time.monotonic()
        url = b.url("/chargers/CP-K/commands/Reset")
        async with http.post(url, json={"type": "Immediate"}, headers=headers) as r:
            assert r.status == 409, await r.text()
            problem = await r.json()
        assert time.monotonic() - began < 5
        assert "gone" in problem["detail"]
        async with postgres_db.engine.connect() as conn:
            assert (await conn.execute(select(charger_presence))).all() == []
        assert (await charger(http, b, "CP-K", headers))["connected"] is False
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()


async def test_a_killed_nodes_chargers_are_offline_once_its_heartbeat_is_stale(nodes, headers):
    b = nodes["node-b"]
    async with aiohttp.ClientSession() as http:
        await on_a_killed_node(http, nodes, "CP-H", headers)
        began = time.monotonic()
        async with asyncio.timeout(NODE_TIMEOUT + 6):  # the timeout, plus a round or two
            while True:
                state = await charger(http, b, "CP-H", headers)
                statuses = [(c["evse_id"], c["status"]) for c in state["connectors"]]
                if not state["connected"] and (0, "Offline") in statuses:
                    break
                await asyncio.sleep(0.2)
        assert time.monotonic() - began >= NODE_TIMEOUT - 1.5  # not before it was due

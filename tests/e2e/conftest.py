"""Fixtures of the end-to-end tests shared by their modules; the helpers behind them are in
tests/support. A module's own fixture of the same name (a csms with other settings, a billing
site) takes precedence in that module."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.events.inprocess import InProcessBus
from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from simulators.rest import PlatformClient
from tests.support import templates
from tests.support.chargers import Csms, start_csms
from tests.support.e2e_parking import Parking
from tests.support.gateway import (
    ADMIN_CLIENT,
    GATEWAY_CLIENT,
    Gateway,
    OcppNode,
    Recorder,
    _gateway,
    _serve,
    require_nginx,
)
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http
from tests.support.services import (
    drop_pg_database,
    pg_url,
    require_postgres,
)
from tests.support.sim_site import CLIENT, Site
from tests.support.tokens import TokenIssuer

# csms on its own, with a client of its REST API (the csms tests).


@pytest.fixture
async def csms(tmp_path) -> AsyncIterator[Csms]:
    platform, csms = await start_csms(tmp_path)
    yield csms
    await platform.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# The embedded platform with parking on SQLite or PostgreSQL (the parking tests).


@pytest.fixture(params=["sqlite", "postgres"])
async def parking(request, tmp_path) -> AsyncIterator[Parking]:
    """The embedded platform; parking on SQLite, or on PostgreSQL (where a park or leave is
    one statement: `parking/single_statement.py`)."""
    env = {"CHARGEPARK_DATA_DIR": str(tmp_path)}
    database = None
    if request.param == "postgres":
        require_postgres()
        database = await templates.create_postgres("parking")
        env["CHARGEPARK_PARKING_DATABASE_URL"] = pg_url(database)
    issuer = TokenIssuer()
    bus = InProcessBus()
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(
        settings, SERVICES, bus=bus, verifier=TokenVerifier(StaticJwks(issuer.jwks))
    )
    parking = Parking(platform, issuer, bus)

    async def record(event: dict[str, Any], attempt: int) -> None:
        parking.events.append(event)

    await bus.subscribe("test", ["VehicleParked", "VehicleLeft"], record)
    await templates.seed(settings)
    await platform.start()
    try:
        yield parking
    finally:
        await platform.stop()
        if database is not None:
            await drop_pg_database(database)


# One embedded platform per module for the simulators (test_sim_chargers, test_sim_scenarios).


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory) -> AsyncIterator[Site]:
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path_factory.mktemp("sim")),
        "CHARGEPARK_BOOTSTRAP_CLIENT_ID": CLIENT[0],
        "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": CLIENT[1],
        "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
        "CHARGEPARK_BILLING_SETTLE_SEC": "1",
        "CHARGEPARK_LOG_LEVEL": "warning",
    }
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(settings, SERVICES)
    await templates.seed(settings)
    await platform.start()
    async with PlatformClient(
        platform.base_url, client_id=CLIENT[0], client_secret=CLIENT[1]
    ) as client:
        yield Site(platform, client)
    await platform.stop()


# The gateway in front of the real accounts service and stand-ins for the others, one per module
# (test_gateway, test_sim_gateway).


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, Recorder]]:
    recorders = {name: Recorder(name) for name in ("csms", "parking", "billing", "ops")}
    for recorder in recorders.values():
        _serve(recorder)
    yield recorders
    for recorder in recorders.values():
        recorder.shutdown()
        recorder.server_close()


@pytest.fixture(scope="module")
def ocpp_nodes() -> Iterator[list[OcppNode]]:
    nodes = [OcppNode("csms-1"), OcppNode("csms-2")]
    yield nodes
    for node in nodes:
        node.close()


@pytest.fixture(scope="module")
def accounts(tmp_path_factory) -> Iterator[str]:
    """The real accounts service on SQLite, with the gateway's introspection client (the
    service client it ensures, scope accounts:read) and an operator client with every scope."""
    require_nginx()
    data = tmp_path_factory.mktemp("accounts")
    port = free_port()
    env = clean_env(
        CHARGEPARK_DATA_DIR=str(data),
        CHARGEPARK_SERVICE_CLIENT_ID=GATEWAY_CLIENT[0],
        CHARGEPARK_SERVICE_CLIENT_SECRET=GATEWAY_CLIENT[1],
        CHARGEPARK_BOOTSTRAP_CLIENT_ID=ADMIN_CLIENT[0],
        CHARGEPARK_BOOTSTRAP_CLIENT_SECRET=ADMIN_CLIENT[1],
        CHARGEPARK_LOG_LEVEL="warning",
    )
    log = open(data / "accounts.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*CHARGEPARK, "serve", "accounts", "--port", str(port), "--migrate"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_http(f"{url}/readyz", timeout=60) == 200, (data / "accounts.log").read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, accounts, stubs, ocpp_nodes) -> Iterator[Gateway]:
    gw = _gateway(
        tmp_path_factory.mktemp("gateway"), accounts, stubs, ocpp_nodes, GATEWAY_CLIENT[1]
    )
    gw.start()
    yield gw
    gw.stop()

"""The distributed topology, driven from outside: every service its own `chargepark serve`
process (two csms nodes) with its own fresh PostgreSQL database, NATS JetStream as the bus (a
stream and subjects of its own), and the gateway (Debian's nginx, rendered from
deploy/nginx/nginx.conf.template as docker-compose.yml runs it) in front.

One visit through the gateway only: an operator client made with `chargepark clients create`
gets its token from accounts' token endpoint; it sets up a lot with an EV bay, registers the
bay's charger and a customer with a vehicle and an RFID card. The car parks; the charger
connects over the gateway's OCPP WebSocket (Basic auth, no bearer token), authorizes the card,
charges with meter values and stops; the car leaves; billing invoices the visit from the events
and the invoice is read back through the gateway. Then the edge itself: a bad token is refused
before any service sees it, a body over the limit gets 413, a burst gets 429.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16

from chargepark.clock import isoformat_utc
from simulators.rest import PlatformClient
from simulators.scenario.model import builtin, load
from simulators.scenario.runner import ScenarioRunner
from tests.contract.conftest import delete_stream
from tests.support.chargers import Charger, boot16
from tests.support.gateway import Gateway, require_nginx
from tests.support.procs import CHARGEPARK, clean_env, free_port, run_cli, wait_http
from tests.support.services import (
    NATS_URL,
    create_pg_database,
    drop_pg_database,
    pg_url,
    require_nats,
    require_postgres,
    unique_name,
)

SERVICE_CLIENT = ("chargepark-internal", "internal-secret-for-the-drive-0123456789")
OPERATOR_SCOPES = (
    "accounts:read accounts:write parking:read parking:write charging:read charging:write "
    "billing:read billing:write ops:read"
)
CHARGER_PASSWORD = "charger-password-0123456789"
LOT = {
    "id": "A1",
    "name": "Mall",
    "levels": [
        {
            "level": "P0",
            "slots": [
                {
                    "slot_ui": 1,
                    "fits": "CAR",
                    "ev_bay": True,
                    "charger_id": "CP-1",
                    "connector_id": 1,
                },
                {"slot_ui": 2, "fits": "CAR"},
            ],
        }
    ],
}


@dataclass
class Process:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@dataclass
class Topology:
    root: Path
    stream: str
    databases: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    gateway: Gateway | None = None
    operator_client: tuple[str, str] = ("", "")

    def env(self, service: str, database: str, **extra: str) -> dict[str, str]:
        return clean_env(
            CHARGEPARK_DATABASE_URL=pg_url(database),
            CHARGEPARK_BUS_URL=NATS_URL,
            CHARGEPARK_BUS_STREAM=self.stream,
            CHARGEPARK_BUS_SUBJECT_PREFIX=self.stream.lower(),
            CHARGEPARK_LOG_LEVEL="warning",
            CHARGEPARK_LOG_FORMAT="json",
            **extra,
        )

    def start(self, name: str, service: str, env: dict[str, str], *flags: str) -> Process:
        port = free_port()
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*CHARGEPARK, "serve", service, "--port", str(port), *flags],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, port, proc, log)
        self.processes[name] = process
        return process

    def ready(self, process: Process, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if process.proc.poll() is not None:
                raise AssertionError(f"{process.name} exited:\n{process.output()}")
            try:
                if wait_http(f"{process.url}/readyz", timeout=2) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{process.name} not ready:\n{process.output()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for process in self.processes.values():
            if process.proc.poll() is None:
                process.proc.terminate()
        for process in self.processes.values():
            try:
                process.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait()


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Iterator[Topology]:
    require_postgres()
    require_nats()
    require_nginx()
    top = Topology(tmp_path_factory.mktemp("distributed"), unique_name("DRIVE").upper())
    services = ("accounts", "csms", "parking", "billing", "ops")

    async def create() -> None:
        names = await asyncio.gather(*(create_pg_database() for _ in services))
        top.databases.update(zip(services, names, strict=True))

    asyncio.run(create())
    try:
        _start(top)
        yield top
    finally:
        top.stop()

        async def clean() -> None:
            for name in top.databases.values():
                await drop_pg_database(name)
            await delete_stream(NATS_URL, top.stream)

        asyncio.run(clean())


def _start(top: Topology) -> None:
    started = time.monotonic()
    db = top.databases
    internal = {
        "CHARGEPARK_SERVICE_CLIENT_ID": SERVICE_CLIENT[0],
        "CHARGEPARK_SERVICE_CLIENT_SECRET": SERVICE_CLIENT[1],
    }
    accounts = top.start(
        "accounts", "accounts", top.env("accounts", db["accounts"], **internal), "--migrate"
    )
    jwks = {"CHARGEPARK_JWKS_URL": f"{accounts.url}/.well-known/jwks.json"}
    for service in ("parking", "billing", "ops"):
        extra = dict(jwks)
        if service == "billing":
            extra |= {"CHARGEPARK_BILLING_SETTLE_SEC": "1", "CHARGEPARK_BILLING_JOB_INTERVAL": "1"}
        top.start(service, service, top.env(service, db[service], **extra), "--migrate")
    # Two csms nodes on one database: migrated once, before either starts.
    csms_env = top.env("csms", db["csms"], **jwks, **internal, CHARGEPARK_ACCOUNTS_URL=accounts.url)
    migrated = run_cli("migrate", "csms", env=csms_env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    ocpp_ports = [free_port(), free_port()]
    for node, ocpp_port in enumerate(ocpp_ports, start=1):
        top.start(f"csms-{node}", "csms", csms_env, "--ocpp-port", str(ocpp_port))
    with ThreadPoolExecutor(len(top.processes)) as pool:
        list(pool.map(top.ready, top.processes.values()))
    # The operator's API client, made with the admin command as an operator would.
    made = run_cli(
        "clients",
        "create",
        "--name",
        "operator",
        "--scopes",
        OPERATOR_SCOPES,
        env=top.env("accounts", db["accounts"]),
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    client_id = re.search(r"client_id:\s+(\S+)", made.stdout)
    secret = re.search(r"client_secret:\s+(\S+)", made.stdout)
    assert client_id and secret, made.stdout
    top.operator_client = (client_id.group(1), secret.group(1))

    p = top.processes
    top.gateway = Gateway(
        top.root / "gateway",
        {
            "accounts": [f"127.0.0.1:{accounts.port}"],
            "csms": [f"127.0.0.1:{p['csms-1'].port}", f"127.0.0.1:{p['csms-2'].port}"],
            "parking": [f"127.0.0.1:{p['parking'].port}"],
            "billing": [f"127.0.0.1:{p['billing'].port}"],
            "ops": [f"127.0.0.1:{p['ops'].port}"],
            "csms_ocpp": [f"127.0.0.1:{port}" for port in ocpp_ports],
        },
        *SERVICE_CLIENT,
    )
    top.gateway.start()
    print(f"distributed topology up in {time.monotonic() - started:.1f} s")


class Client:
    """REST through the gateway with the operator's token."""

    def __init__(self, http: aiohttp.ClientSession, gateway: Gateway, token: str) -> None:
        self.http, self.gateway, self.token = http, gateway, token

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = kw.pop("headers", {"Authorization": f"Bearer {self.token}"})
        async with self.http.request(
            method, self.gateway.base_url + path, json=body, headers=headers, **kw
        ) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)


async def operator_token(http: aiohttp.ClientSession, top: Topology) -> str:
    assert top.gateway is not None
    client_id, secret = top.operator_client
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    async with http.post(
        f"{top.gateway.base_url}/accounts/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]


def ts(at: datetime) -> str:
    return isoformat_utc(at)


def requests_seen(service_url: str, route: str) -> int:
    """Requests a service has answered on `route`, from its own metrics (read directly)."""
    with urllib.request.urlopen(f"{service_url}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for labels, value in re.findall(
        r"^chargepark_http_requests_total\{([^}]*)\} (\S+)$", text, re.M
    ):
        if f'route="{route}"' in labels:
            total += float(value)
    return int(total)


async def test_one_visit_through_the_gateway_is_invoiced(topology: Topology):
    gw = topology.gateway
    assert gw is not None
    async with aiohttp.ClientSession() as http:
        api = Client(http, gw, await operator_token(http, topology))

        # Set-up: a lot with an EV bay, its charger, a customer with a car and an RFID card.
        status, body = await api.call("POST", "/parking/lots", LOT)
        assert status == 201, body
        status, body = await api.call(
            "POST", "/charging/chargers", {"id": "CP-1", "password": CHARGER_PASSWORD}
        )
        assert status == 201, body
        status, customer = await api.call(
            "POST", "/accounts/customers", {"name": "Ann Driver", "email": "ann@example.com"}
        )
        assert status == 201, customer
        cid = customer["id"]
        status, body = await api.call(
            "POST",
            f"/accounts/customers/{cid}/vehicles",
            {"regnum": "AB-123", "kind": "CAR", "fuel": "EV"},
        )
        assert status == 201, body
        status, body = await api.call(
            "POST",
            f"/accounts/customers/{cid}/id-tokens",
            {"id_token": "RFID-1", "type": "ISO14443"},
        )
        assert status == 201, body

        # The visit: park, charge over OCPP through the gateway, leave.
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        arrive = end - timedelta(hours=2)
        status, body = await api.call(
            "POST",
            "/parking/lots/A1/park",
            {"regnum": "AB-123", "kind": "CAR", "fuel": "EV", "ts": ts(arrive)},
        )
        assert status in (200, 201), body
        assert body["slot_ui"] == 1, body  # the EV bay

        basic = base64.b64encode(f"CP-1:{CHARGER_PASSWORD}".encode()).decode()
        ws = await websockets.connect(
            f"{gw.ocpp_url}/CP-1",
            subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": f"Basic {basic}"},
            open_timeout=10,
        )
        cp = Charger(Client16("CP-1", ws), ws)
        try:
            booted = await cp.call(boot16())
            assert booted.status == "Accepted"
            authorized = await cp.call(call16.Authorize(id_tag="RFID-1"))
            assert authorized.id_tag_info["status"] == "Accepted"
            started = await cp.call(
                call16.StartTransaction(
                    connector_id=1,
                    id_tag="RFID-1",
                    meter_start=0,
                    timestamp=ts(arrive + timedelta(minutes=5)),
                )
            )
            assert started.id_tag_info["status"] == "Accepted"
            tx = started.transaction_id
            for minute, wh in ((15, 4_600), (25, 9_200)):
                await cp.call(
                    call16.MeterValues(
                        connector_id=1,
                        transaction_id=tx,
                        meter_value=[
                            {
                                "timestamp": ts(arrive + timedelta(minutes=minute)),
                                "sampledValue": [
                                    {
                                        "value": str(wh),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                    }
                                ],
                            }
                        ],
                    )
                )
            stopped = await cp.call(
                call16.StopTransaction(
                    meter_stop=14_300,
                    timestamp=ts(arrive + timedelta(minutes=36)),
                    transaction_id=tx,
                    reason="EVDisconnected",
                )
            )
            assert stopped is not None
        finally:
            await cp.close()

        status, sessions = await api.call("GET", "/charging/sessions?charger_id=CP-1")
        assert status == 200, sessions
        [session] = [s for s in sessions["items"] if s["charger_id"] == "CP-1"]
        assert session["kwh"] == "14.300", session

        status, body = await api.call(
            "POST", "/parking/lots/A1/leave", {"regnum": "AB123", "ts": ts(end)}
        )
        assert status == 200, body

        # billing hears VehicleParked/Left and ChargingSessionStarted/Closed over NATS and,
        # once the visit settles, issues the invoice (and the local provider collects it).
        invoice: dict[str, Any] | None = None
        async with asyncio.timeout(45):
            while invoice is None:
                status, page = await api.call("GET", f"/billing/invoices?customer_id={cid}")
                assert status == 200, page
                if page["items"] and page["items"][0]["status"] == "paid":
                    invoice = page["items"][0]
                else:
                    await asyncio.sleep(0.5)
        status, inv = await api.call("GET", f"/billing/invoices/{invoice['id']}")
        assert status == 200, inv
        assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == [
            ("CHARGING", 608),  # 14.3 kWh x 0.39 = 5.577 -> 5.58, + 0.50 session fee
            ("PARKING", 400),  # 8 started quarters x 0.50
            ("IDLE", 270),  # 54 minutes x 0.05, from 30 minutes after charging until leaving
        ]
        assert (inv["total_minor"], inv["status"], inv["currency"]) == (1534, "paid", "EUR")


async def test_the_single_visit_scenario_plays_through_the_gateway(topology: Topology):
    """The simulators' single visit (chargepark sim run single-visit), through nginx: REST with
    the operator client's tokens, OCPP on the gateway's /ocpp/, invoiced and paid."""
    gw = topology.gateway
    assert gw is not None
    client_id, secret = topology.operator_client
    async with PlatformClient(gw.base_url, client_id=client_id, client_secret=secret) as client:
        runner = ScenarioRunner(
            load(builtin("single-visit")).with_tag("GW"),
            client,
            gw.ocpp_url,
            speed=600,
            out=lambda _line: None,
            invoice_wait=60,
        )
        summary = await runner.run()
    assert summary.errors == [], summary.errors
    assert [s["kwh"] for s in summary.sessions] == ["14.300"]
    [invoice] = summary.invoices
    assert invoice["status"] == "paid" and invoice["total_minor"] > 0


async def test_the_edge_refuses_bad_tokens_big_bodies_and_bursts(topology: Topology):
    gw = topology.gateway
    assert gw is not None
    parking = topology.processes["parking"].url
    async with aiohttp.ClientSession() as http:
        token = await operator_token(http, topology)
        api = Client(http, gw, token)

        # A bad token: 401 at the edge, and parking never sees the request.
        before = requests_seen(parking, "/lots")
        head, payload, signature = token.split(".")
        for bad in (f"{head}.{payload}.{signature[::-1]}", "garbage"):
            async with http.get(
                f"{gw.base_url}/parking/lots", headers={"Authorization": f"Bearer {bad}"}
            ) as r:
                assert r.status == 401
                assert r.content_type == "application/problem+json"
                assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        async with http.get(f"{gw.base_url}/parking/lots") as r:
            assert r.status == 401
        assert requests_seen(parking, "/lots") == before
        # The same request with the good token does reach it.
        status, _ = await api.call("GET", "/parking/lots")
        assert status == 200
        assert requests_seen(parking, "/lots") == before + 1

        # A body over 1 MiB: 413 from the gateway.
        status, body = await api.call(
            "POST", "/parking/lots", data=io.BytesIO(b"{" + b" " * (1024 * 1024) + b"}")
        )
        assert status == 413 and body["status"] == 413

        # A burst: 20 requests/s per token with a burst of 40, so most of 100 at once are 429.
        async def one() -> tuple[int, str | None, dict[str, Any]]:
            async with http.get(
                f"{gw.base_url}/ops/healthz", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                return r.status, r.headers.get("Retry-After"), json.loads(await r.text())

        # healthz is public but still rate limited: a cheap request to burst with.
        results = await asyncio.gather(*(one() for _ in range(100)))
        limited = [(retry, body) for status, retry, body in results if status == 429]
        assert len(limited) >= 40, [status for status, _, _ in results]
        retry, body = limited[0]
        assert retry == "1" and body["status"] == 429 and body["title"] == "Too Many Requests"


def test_the_services_and_the_gateway_logged_no_errors(topology: Topology):
    assert topology.gateway is not None
    access = topology.gateway.access_log()
    assert any(e["uri"].startswith("/ocpp/CP-1") and e["status"] == 101 for e in access)
    for process in topology.processes.values():
        errors = [
            line
            for line in process.output().splitlines()
            if line.startswith("{") and json.loads(line).get("level") in ("error", "critical")
        ]
        assert not errors, f"{process.name}: {errors[:3]}"
    with contextlib.suppress(FileNotFoundError):
        assert "[emerg]" not in (topology.gateway.logs / "error.log").read_text()

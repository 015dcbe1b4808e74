"""The distributed topology as real processes, on private servers.

Five `chargepark serve` services (csms twice: two nodes on one database), each on its own
database of a private PostgreSQL cluster, a private NATS JetStream as the bus, the gateway
(nginx rendered from deploy/nginx/nginx.conf.template) in front, and billing collecting through
the real `stripe` SDK against the fake Stripe server fronting localstripe. Every process can be
killed (SIGKILL) and started again on the same ports, so the gateway's upstreams stay valid.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.servers import PrivateNats, PrivatePostgres
from tests.support.gateway import Gateway
from tests.support.procs import CHARGEPARK, clean_env, free_port, run_cli, wait_http

SERVICE_CLIENT = ("chargepark-internal", "internal-secret-for-the-chaos-0123456789")
OPERATOR_SCOPES = (
    "accounts:read accounts:write parking:read parking:write charging:read charging:write "
    "billing:read billing:write ops:read"
)
STRIPE_KEY = "sk_test_chaos"
STRIPE_WEBHOOK_SECRET = "whsec_chaos"
SERVICES = ("accounts", "csms", "parking", "billing", "ops")


@dataclass
class Process:
    name: str
    service: str
    port: int
    env: dict[str, str]
    log: Path
    flags: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CHARGEPARK, "serve", self.service, "--port", str(self.port), *self.flags],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to the bus or the chargers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.output()}")
            try:
                if wait_http(f"{self.url}/readyz", timeout=2) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    root: Path
    stripe_base: str
    pg: PrivatePostgres = field(default_factory=PrivatePostgres)
    nats: PrivateNats = field(default_factory=PrivateNats)
    processes: dict[str, Process] = field(default_factory=dict)
    gateway: Gateway | None = None
    operator_client: tuple[str, str] = ("", "")
    ocpp_ports: dict[str, int] = field(default_factory=dict)
    stream: str = "CHAOS"

    def env(self, service: str, **extra: str) -> dict[str, str]:
        return clean_env(
            CHARGEPARK_DATABASE_URL=self.pg.url(f"chaos_{service}"),
            CHARGEPARK_BUS_URL=self.nats.url,
            CHARGEPARK_BUS_STREAM=self.stream,
            CHARGEPARK_BUS_SUBJECT_PREFIX=self.stream.lower(),
            CHARGEPARK_LOG_LEVEL="warning",
            CHARGEPARK_LOG_FORMAT="json",
            **extra,
        )

    async def start(self) -> None:
        """Servers, databases, services, the operator's client, then the gateway."""
        await asyncio.to_thread(self.pg.init)
        await asyncio.to_thread(self.pg.start)
        await asyncio.to_thread(self.nats.start)
        for service in SERVICES:
            await self.pg.create_database(f"chaos_{service}")
        await asyncio.to_thread(self._start_services)

    def _start_services(self) -> None:
        internal = {
            "CHARGEPARK_SERVICE_CLIENT_ID": SERVICE_CLIENT[0],
            "CHARGEPARK_SERVICE_CLIENT_SECRET": SERVICE_CLIENT[1],
        }
        accounts = self._process("accounts", "accounts", self.env("accounts", **internal))
        accounts.start()
        accounts.ready()  # the others read its JWKS at start
        jwks = {"CHARGEPARK_JWKS_URL": f"{accounts.url}/.well-known/jwks.json"}
        billing = {
            # Longer than an outbox relay's longest backoff (15 s) plus its poll, as the default
            # (60 s) is: after a NATS outage each service's backlog reaches billing within that
            # of the others', so a visit's events all join it before it is invoiced.
            "CHARGEPARK_BILLING_SETTLE_SEC": "17",
            "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
            "CHARGEPARK_STRIPE_API_KEY": STRIPE_KEY,
            "CHARGEPARK_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "CHARGEPARK_STRIPE_API_BASE": self.stripe_base,
        }
        for service in ("parking", "billing", "ops"):
            extra = jwks | (billing if service == "billing" else {})
            self._process(service, service, self.env(service, **extra)).start()
        # Two csms nodes on one database: migrated once, before either starts.
        csms_env = self.env("csms", **jwks, **internal, CHARGEPARK_ACCOUNTS_URL=accounts.url)
        migrated = run_cli("migrate", "csms", env=csms_env, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        for node in ("csms-1", "csms-2"):
            port = free_port()
            self.ocpp_ports[node] = port
            self._process(node, "csms", csms_env, flags=("--ocpp-port", str(port))).start()
        for process in self.processes.values():
            process.ready()
        made = run_cli(
            "clients",
            "create",
            "--name",
            "chaos-operator",
            "--scopes",
            OPERATOR_SCOPES,
            env=self.env("accounts"),
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        client_id = re.search(r"client_id:\s+(\S+)", made.stdout)
        secret = re.search(r"client_secret:\s+(\S+)", made.stdout)
        assert client_id and secret, made.stdout
        self.operator_client = (client_id.group(1), secret.group(1))
        p = self.processes
        self.gateway = Gateway(
            self.root / "gateway",
            {
                "accounts": [f"127.0.0.1:{p['accounts'].port}"],
                "csms": [f"127.0.0.1:{p['csms-1'].port}", f"127.0.0.1:{p['csms-2'].port}"],
                "parking": [f"127.0.0.1:{p['parking'].port}"],
                "billing": [f"127.0.0.1:{p['billing'].port}"],
                "ops": [f"127.0.0.1:{p['ops'].port}"],
                # max_fails=0: with nginx's default passive check (max_fails=1, fail_timeout=10s)
                # a csms node restarted after a kill stayed "failed" for the chargers whose first
                # choice it is not, and when the other node died they got 503 (no live upstreams)
                # for 45 s and more (docs/reliability.md). A refused connection now only moves
                # the handshake on to the next node.
                "csms_ocpp": [f"127.0.0.1:{port} max_fails=0" for port in self.ocpp_ports.values()],
            },
            *SERVICE_CLIENT,
        )
        self.gateway.start()

    def _process(
        self, name: str, service: str, env: dict[str, str], flags: tuple[str, ...] = ()
    ) -> Process:
        migrate = ("--migrate",) if service != "csms" else ()
        process = Process(
            name, service, free_port(), env, self.root / f"{name}.log", (*migrate, *flags)
        )
        self.processes[name] = process
        return process

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for process in self.processes.values():
            process.stop()
        self.nats.remove()
        self.pg.stop()

    def error_lines(self) -> dict[str, list[str]]:
        """The ERROR and CRITICAL lines each process logged (JSON lines)."""
        import json

        found: dict[str, list[str]] = {}
        for process in self.processes.values():
            text = process.log.read_text(errors="replace") if process.log.exists() else ""
            for line in text.splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    level = json.loads(line).get("level")
                except ValueError:
                    continue
                if level in ("error", "critical"):
                    found.setdefault(process.name, []).append(line[:600])
        return found

"""Running services in a process: one (`chargepark serve`) or all five (`chargepark up`).

Start: open each service's database (migrating when configured), build it, subscribe its
consumer; then start the bus, the outbox relays, the extra servers (OCPP) and the REST site.
Stop, in reverse: stop accepting requests and OCPP connections, drain the relays while the bus
is still up, close the bus, dispose the databases.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from aiohttp import web

from chargepark.auth import RemoteJwks, TokenVerifier
from chargepark.clock import Clock, SystemClock
from chargepark.config import Settings
from chargepark.db import migrate
from chargepark.db.engine import Database
from chargepark.errors import ConfigError
from chargepark.events.bus import EventBus
from chargepark.events.factory import make_bus
from chargepark.events.outbox import OutboxRelay
from chargepark.events.retention import EventRetention
from chargepark.events.retries import EventRetries
from chargepark.http.app import MOUNTED_AT
from chargepark.http.correlation import correlation_middleware
from chargepark.http.problem import problem_middleware
from chargepark.http.server import ProblemAppRunner
from chargepark.net import bind_error
from chargepark.platform.config import MOUNT_PREFIXES
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

log = logging.getLogger(__name__)


def definition_of(service: str) -> ServiceDefinition:
    module = importlib.import_module(f"{service}.app")
    return module.DEFINITION


def with_internal_client(settings: Settings, services: Sequence[str]) -> Settings:
    """Embedded, csms calls its own process's accounts: the process makes up the API client for
    that (accounts ensures it at start) unless one is configured. Only settings differ."""
    auth = settings.auth
    if not {"accounts", "csms"} <= set(services) or auth.service_client_id:
        return settings
    host = _loopback(settings.host)
    prefix = MOUNT_PREFIXES["accounts"] if len(services) > 1 else ""
    return replace(
        settings,
        auth=replace(
            auth,
            service_client_id="chargepark-internal",
            service_client_secret=secrets.token_urlsafe(32),
            accounts_url=auth.accounts_url or f"http://{host}:{settings.http_port}{prefix}",
        ),
    )


def _loopback(host: str) -> str:
    host = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def default_verifier(settings: Settings, services: Sequence[str]) -> TokenVerifier | None:
    """Tokens are checked against the issuer's JWKS over HTTP, in every topology: embedded, the
    process asks its own accounts app, so the path is the same as between processes."""
    url = settings.jwks_url
    if url is None and "accounts" in services:
        host = _loopback(settings.host)
        prefix = MOUNT_PREFIXES["accounts"] if len(services) > 1 else ""
        url = f"http://{host}:{settings.http_port}{prefix}/.well-known/jwks.json"
    if url is None:
        log.warning("no token issuer configured (CHARGEPARK_JWKS_URL): protected routes answer 401")
        return None
    issuer = settings.auth.issuer
    return TokenVerifier(RemoteJwks(url), issuer=issuer, audience=issuer)


class ServiceHost:
    """One service inside a process: its database, outbox relay, consumer and app."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: Settings,
        bus: EventBus,
        clock: Clock,
        verifier: TokenVerifier | None,
        notices: list[str],
    ) -> None:
        self.notices = notices
        self.definition = definition
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.verifier = verifier
        self.db: Database | None = None
        self.relay: OutboxRelay | None = None
        self.retention: EventRetention | None = None
        self.retries: EventRetries | None = None
        self.parts: ServiceParts | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    async def open(self) -> None:
        self.db = Database(
            self.settings.database_url(self.name),
            max_connections=self.settings.db_max_connections,
        )
        if self.settings.migrate_on_start:
            await migrate.upgrade(self.name, self.db)
        self.relay = OutboxRelay(
            self.name, self.db, self.definition.tables.outbox, self.bus, clock=self.clock
        )
        if self.settings.events_retention_sec > 0:
            self.retention = EventRetention(
                self.name,
                self.db,
                self.definition.tables,
                self.clock,
                timedelta(seconds=self.settings.events_retention_sec),
            )
        ctx = ServiceContext(
            name=self.name,
            settings=self.settings,
            db=self.db,
            tables=self.definition.tables,
            bus=self.bus,
            relay=self.relay,
            clock=self.clock,
            verifier=self.verifier,
            notices=self.notices,
        )
        self.parts = self.definition.build(ctx)
        if self.parts.consumer is not None:
            consumer = self.parts.consumer
            await self.bus.subscribe(self.name, consumer.event_types, consumer.deliver)
            if consumer.retries is not None:
                self.retries = EventRetries(consumer)

    async def start(self) -> None:
        assert self.relay is not None and self.parts is not None
        self.relay.start()
        if self.retention is not None:
            await self.retention.start()
        if self.retries is not None:
            await self.retries.start()
        for server in self.parts.servers:
            await server.start()

    async def stop(self) -> None:
        if self.parts is not None:
            for server in self.parts.servers:
                await server.stop()
        if self.retention is not None:
            await self.retention.stop()
        if self.retries is not None:
            await self.retries.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.parts is not None:
            for hook in self.parts.on_stop:
                await hook()

    async def close(self) -> None:
        if self.db is not None:
            await self.db.dispose()


class Platform:
    """A process running `services`; mounted under their prefixes when there is more than one."""

    def __init__(
        self,
        settings: Settings,
        services: Sequence[str],
        *,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.services = tuple(services)
        self.settings = settings = with_internal_client(settings, self.services)
        self.bus = bus or make_bus(settings.bus)
        self.clock = clock or SystemClock()
        self.verifier = verifier or default_verifier(settings, self.services)
        self.notices: list[str] = []  # what the operator must see once (printed by the CLI)
        self.hosts = [
            ServiceHost(
                definition_of(s), settings, self.bus, self.clock, self.verifier, self.notices
            )
            for s in self.services
        ]
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    @property
    def mounted(self) -> bool:
        return len(self.hosts) > 1

    async def start(self) -> None:
        try:
            for host in self.hosts:
                await host.open()
            await self.bus.start()
            for host in self.hosts:
                await host.start()
            self.app = self._root_app()
            self._runner = ProblemAppRunner(self.app, handle_signals=False, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.host, self.settings.http_port)
            try:
                await site.start()
            except OSError as exc:
                raise ConfigError(
                    bind_error("HTTP", self.settings.host, self.settings.http_port, exc)
                ) from None
        except BaseException:
            await self.stop()
            raise
        log.info(
            "chargepark is up",
            extra={
                "services": list(self.services),
                "http": self.base_url,
                "bus": "in-process" if self.settings.bus.in_process else "nats",
            },
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.http_port}"

    def _root_app(self) -> web.Application:
        if not self.mounted:
            assert self.hosts[0].parts is not None
            return self.hosts[0].parts.app
        root = web.Application(
            middlewares=[correlation_middleware, problem_middleware],
            client_max_size=self.settings.max_body_bytes,
        )
        for host in self.hosts:
            assert host.parts is not None
            prefix = MOUNT_PREFIXES[host.name]
            host.parts.app[MOUNTED_AT] = prefix
            root.add_subapp(prefix, host.parts.app)
        return root

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for host in reversed(self.hosts):
            try:
                await host.stop()
            except Exception:
                log.exception("error while stopping a service", extra={"service": host.name})
        await self.bus.close()
        for host in self.hosts:
            await host.close()

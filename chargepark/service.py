"""What a service package gives the kernel, and what the kernel hands it back.

Each service's `app.py` exports `DEFINITION`; the runtime opens its database, applies its
migrations, builds it with a ServiceContext, subscribes its consumer and relays its outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web
from sqlalchemy import MetaData

from chargepark.auth import TokenVerifier
from chargepark.clock import Clock
from chargepark.config import Settings
from chargepark.db.engine import Database
from chargepark.db.tables import KernelTables
from chargepark.db.uow import UnitOfWork
from chargepark.events.bus import EventBus
from chargepark.events.inbox import Consumer
from chargepark.events.outbox import OutboxRelay

U = TypeVar("U", bound=UnitOfWork)


class Server(Protocol):
    """A listener besides REST, e.g. csms's OCPP WebSocket endpoint."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceContext:
    name: str
    settings: Settings
    db: Database
    tables: KernelTables
    bus: EventBus
    relay: OutboxRelay
    clock: Clock
    verifier: TokenVerifier | None
    notices: list[str] = field(default_factory=list)

    def announce(self, message: str) -> None:
        """Something the operator must see once on the console (the CLI prints it)."""
        self.notices.append(message)

    def units_of_work(self, cls: type[U]) -> Callable[[], U]:
        """A factory of the service's UnitOfWork subclass, wired to its outbox and relay."""
        return lambda: cls(self.db, self.tables.outbox, self.clock, self.relay.notify)


@dataclass
class ServiceParts:
    app: web.Application
    consumer: Consumer[Any] | None = None
    # Read only (a Sequence): a service hands over a list of its own coroutine functions.
    servers: Sequence[Server] = field(default_factory=list)
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # the package name: accounts, csms, parking, billing, ops
    title: str
    metadata: MetaData
    tables: KernelTables
    build: Callable[[ServiceContext], ServiceParts]

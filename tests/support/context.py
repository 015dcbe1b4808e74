"""A ServiceContext for testing the HTTP kernel without a whole platform."""

from __future__ import annotations

from chargepark.auth import TokenVerifier
from chargepark.clock import SystemClock
from chargepark.config import Settings
from chargepark.db.engine import Database
from chargepark.events.bus import EventBus
from chargepark.events.outbox import OutboxRelay
from chargepark.service import ServiceContext
from tests.support import notes


def a_context(
    db: Database,
    bus: EventBus,
    *,
    name: str = "test",
    max_body_bytes: int = 1024,
    verifier: TokenVerifier | None = None,
) -> ServiceContext:
    settings = Settings(max_body_bytes=max_body_bytes)
    relay = OutboxRelay(name, db, notes.kernel.outbox, bus)
    return ServiceContext(
        name=name,
        settings=settings,
        db=db,
        tables=notes.kernel,
        bus=bus,
        relay=relay,
        clock=SystemClock(),
        verifier=verifier,
    )

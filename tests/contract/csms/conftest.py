"""csms's ports, each on its in-memory fake and on SQL (SQLite and PostgreSQL): a `Backend`
says which, and registers chargers the way each one needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chargepark.db.engine import Database
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import kernel
from csms.domain.chargers import BootInfo
from csms.services.chargers import ChargingService, RegisterCharger


@dataclass
class Backend:
    name: str
    clock: Any
    db: Database | None = None
    registered: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def fake(self) -> bool:
        return self.db is None

    def uow(self) -> Callable[[], CsmsUnitOfWork]:
        assert self.db is not None
        db, clock = self.db, self.clock
        return lambda: CsmsUnitOfWork(db, kernel.outbox, clock, lambda: None)

    async def register(self, charger_id: str, version: str | None = "1.6") -> None:
        """A registered charger (booted in `version`, unless None), in the database if any."""
        self.registered.append((charger_id, version))
        if self.db is None:
            return
        service = ChargingService(self.uow(), self.clock)
        await service.register(RegisterCharger(id=charger_id, tariff_id="T-1"))
        if version is not None:
            await service.boot(charger_id, BootInfo("ACME", "X"), version)


@pytest.fixture
def schema_of() -> str:
    """Each SQL store under test starts migrated (copied from a template)."""
    return "csms"


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_db(request) -> Database | None:
    """None for the fake; else the database of that kind."""
    return None if request.param == "fake" else request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def backend(backend_db, clock) -> Backend:
    if backend_db is None:
        return Backend("fake", clock)
    return Backend(backend_db.dialect, clock, backend_db)

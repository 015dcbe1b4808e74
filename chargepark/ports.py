"""The kernel's ports: what every service's use cases ask of a unit of work, whatever it holds.
Each service's own unit-of-work port (in its ports module) extends `Transaction` with its
repositories and its `emit`; the SQL one is `chargepark.db.uow.UnitOfWork`, the fakes live in
tests/support/fakes/."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class Transaction(Protocol):
    """One all-or-nothing change: entered, committed, and rolled back when left uncommitted
    (or by an exception)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

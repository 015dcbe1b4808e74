"""Billing's unit of work: its repositories on one transaction, and the outbox."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table

from billing.adapters.sql.customers import SqlCustomers
from billing.adapters.sql.invoices import SqlInvoices
from billing.adapters.sql.tariffs import SqlTariffs
from billing.adapters.sql.visits import SqlVisits
from chargepark.clock import Clock
from chargepark.db.engine import Database
from chargepark.db.uow import UnitOfWork


class SqlBillingUnitOfWork(UnitOfWork):
    def __init__(
        self, db: Database, outbox: Table, clock: Clock, on_commit: Callable[[], None]
    ) -> None:
        super().__init__(db, outbox, clock, on_commit)
        self.tariffs = SqlTariffs(self)
        self.invoices = SqlInvoices(self)
        self.visits = SqlVisits(self)
        self.customers = SqlCustomers(self)

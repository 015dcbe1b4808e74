"""The billing job, inside the billing service (chargepark.scheduler.IntervalJob). Each run
invoices the visits that are due and has the provider issue and collect the open invoices whose
(re)try time has come. Several processes may run it: a visit is invoiced under its row lock,
and an invoice is claimed before a provider call.
"""

from __future__ import annotations

from billing.services import BillingService
from chargepark.scheduler import IntervalJob

JOB_ID = "billing-cycle"


class BillingWorker(IntervalJob):
    def __init__(self, service: BillingService, every_sec: float) -> None:
        super().__init__(JOB_ID, every_sec)
        self.service = service

    async def start(self) -> None:
        await self.service.ensure_default_tariff()
        await super().start()

    async def work(self) -> None:
        await self.service.run_cycle()

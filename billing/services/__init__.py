"""Billing's use cases: tariffs (tariffs.py), visits from events (visits.py), invoicing
(invoicing.py) and payment (payments.py). `BillingService` is the one object the API, the
webhook and the billing job hold: it wires the use cases to one unit of work and provider.
"""

from __future__ import annotations

from collections.abc import Callable

from billing.domain.invoices import RetryPolicy
from billing.ports import BillingUnitOfWork, PaymentProvider
from billing.services.invoicing import Invoicing, UnknownVisit
from billing.services.payments import Payments, UnknownProviderInvoice
from billing.services.tariffs import TariffFields, Tariffs
from billing.settings import BillingSettings
from chargepark.clock import Clock

__all__ = ["BillingService", "TariffFields", "UnknownProviderInvoice", "UnknownVisit"]


class BillingService:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        provider: PaymentProvider,
        *,
        settings: BillingSettings | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.provider = provider
        self.settings = settings or BillingSettings()
        self.policy = policy or RetryPolicy(
            unavailable_max_sec=self.settings.unavailable_max_backoff_sec,
            max_declines=self.settings.max_declines,
            decline_retry_sec=self.settings.decline_retry_sec,
        )
        tariffs = Tariffs(uow, clock)
        self.invoicing = Invoicing(uow, clock, self.settings)
        self.payments = Payments(uow, clock, provider, self.policy)
        # tariffs
        self.ensure_default_tariff = tariffs.ensure_default_tariff
        self.tariffs = tariffs.tariffs
        self.tariff = tariffs.tariff
        self.create_tariff = tariffs.create_tariff
        self.change_tariff = tariffs.change_tariff
        # invoicing
        self.finalize_due = self.invoicing.finalize_due
        self.finalize_visit = self.invoicing.finalize_visit
        self.create_draft = self.invoicing.create_draft
        self.add_lines = self.invoicing.add_lines
        self.invoice = self.invoicing.invoice
        self.invoices = self.invoicing.invoices
        self.visit = self.invoicing.visit
        # payments
        self.collect_due = self.payments.collect_due
        self.capture = self.payments.capture
        self.payment_succeeded = self.payments.payment_succeeded
        self.payment_failed = self.payments.payment_failed

    async def run_cycle(self) -> None:
        """The billing job's run: invoice the visits that are due, then collect."""
        await self.finalize_due()
        await self.collect_due()

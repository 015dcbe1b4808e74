"""The local payment provider: the embedded default, when no Stripe key is configured.

Nothing leaves the process. A customer's invoice is issued and paid at once (as if charged to
the card on file); the anonymous account's (customer None) is issued and left open: the driver
pays at the exit, and the operator's capture (`POST /invoices/{id}/capture`) records it paid.
Invoices it handles carry provider "local", and a note that they were not sent to Stripe.
"""

from __future__ import annotations

from billing.payments.port import (
    InvoiceToIssue,
    IssuedInvoice,
    Payer,
    PaymentAttempt,
    PaymentStatus,
)


class LocalProvider:
    name = "local"

    async def ensure_customer(self, payer: Payer) -> str:
        return f"local_cus_{payer.customer_id}"

    async def issue(self, payer: Payer, invoice: InvoiceToIssue) -> IssuedInvoice:
        paid = payer.customer_id is not None
        return IssuedInvoice(
            provider=self.name,
            provider_customer_id=payer.provider_customer_id,
            provider_invoice_id=f"local_{invoice.invoice_id}",
            status=PaymentStatus.PAID if paid else PaymentStatus.OPEN,
            charge_automatically=invoice.charge_automatically,
        )

    async def collect(self, provider_invoice_id: str, attempt: int) -> PaymentAttempt:
        return PaymentAttempt(
            status=PaymentStatus.PAID, provider_ref=f"{provider_invoice_id}_pay{attempt}"
        )

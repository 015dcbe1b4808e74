"""Wiring of the billing service: the only place that picks its implementations.

The payment provider: Stripe when CHARGEPARK_STRIPE_API_KEY is set (its webhook secret, and
optionally the API base URL, beside it), else the local provider (the embedded default: nothing
leaves the process; see billing.payments.local).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from billing import api
from billing.adapters.sql import SqlBillingUnitOfWork
from billing.api import webhook
from billing.consumers import build_consumer
from billing.payments.local import LocalProvider
from billing.payments.stripe import StripeProvider
from billing.ports import PaymentProvider
from billing.services import BillingService
from billing.settings import BILLING, STRIPE
from billing.store import kernel, metadata
from billing.worker import BillingWorker
from chargepark.config import Settings
from chargepark.errors import ConfigError
from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

TITLE = "chargepark billing"


def payment_provider(settings: Settings) -> PaymentProvider:
    stripe = STRIPE.of(settings)
    if not stripe.api_key:
        return LocalProvider()
    if not stripe.webhook_secret:
        raise ConfigError(
            "CHARGEPARK_STRIPE_WEBHOOK_SECRET: set it with CHARGEPARK_STRIPE_API_KEY, or Stripe's "
            "payment reports cannot be verified"
        )
    return StripeProvider(stripe.api_key, stripe.api_base)


def build(ctx: ServiceContext) -> ServiceParts:
    units = ctx.units_of_work(SqlBillingUnitOfWork)
    provider = payment_provider(ctx.settings)
    service = BillingService(units, ctx.clock, provider, settings=BILLING.of(ctx.settings))
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = service
    app.add_routes(api.routes)
    # The webhook answers 404 itself while no webhook secret is configured.
    app[webhook.PAYMENT_EVENTS] = service
    app.add_routes(webhook.routes)
    on_stop: list[Callable[[], Awaitable[None]]] = []
    if isinstance(provider, StripeProvider):
        on_stop.append(provider.aclose)
    else:
        ctx.announce(
            "billing: no Stripe key (CHARGEPARK_STRIPE_API_KEY); invoices are settled locally"
        )
    worker = BillingWorker(service, BILLING.of(ctx.settings).job_interval_sec)
    return ServiceParts(
        app=app,
        consumer=build_consumer(units, ctx.tables),
        servers=[worker],
        on_stop=on_stop,
    )


DEFINITION = ServiceDefinition(
    name="billing", title=TITLE, metadata=metadata, tables=kernel, build=build
)

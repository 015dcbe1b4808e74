"""billing's own settings: invoicing (CHARGEPARK_BILLING_*) and Stripe (CHARGEPARK_STRIPE_*).

Read at start-up with the kernel's readers (chargepark.config.values); billing takes them with
`BILLING.of(settings)` and `STRIPE.of(settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargepark.config.values import (
    Section,
    Source,
    optional,
    optional_http_url,
    positive_int,
    whole_number,
)


@dataclass(frozen=True)
class BillingSettings:
    # A visit is invoiced once the vehicle has left, its sessions are closed and no event has
    # changed it for `settle_sec` (late events still join it); or, when a session never closes,
    # `visit_timeout_sec` after its last change. The billing job runs every `job_interval_sec`.
    visit_timeout_sec: int = 24 * 3600
    settle_sec: int = 60
    job_interval_sec: int = 15
    # Collecting: a declined payment is retried `decline_retry_sec` later, until `max_declines`
    # declines make the invoice uncollectible; a provider that cannot be reached is retried
    # after 30 s, doubling up to `unavailable_max_backoff_sec`, for as long as it takes.
    max_declines: int = 3
    decline_retry_sec: int = 3600
    unavailable_max_backoff_sec: int = 3600


@dataclass(frozen=True)
class StripeSettings:
    api_key: str | None = None  # set: invoices go to Stripe; unset: the local provider
    webhook_secret: str | None = None
    api_base: str | None = None  # e.g. a Stripe-compatible test server; default Stripe's own


def _billing(src: Source) -> BillingSettings:
    return BillingSettings(
        visit_timeout_sec=positive_int(*src.get("CHARGEPARK_BILLING_VISIT_TIMEOUT")),
        settle_sec=whole_number(*src.get("CHARGEPARK_BILLING_SETTLE_SEC")),
        job_interval_sec=positive_int(*src.get("CHARGEPARK_BILLING_JOB_INTERVAL")),
        max_declines=positive_int(*src.get("CHARGEPARK_BILLING_MAX_DECLINES")),
        decline_retry_sec=positive_int(*src.get("CHARGEPARK_BILLING_DECLINE_RETRY")),
        unavailable_max_backoff_sec=positive_int(
            *src.get("CHARGEPARK_BILLING_UNAVAILABLE_MAX_BACKOFF")
        ),
    )


def _stripe(src: Source) -> StripeSettings:
    return StripeSettings(
        api_key=optional(*src.get("CHARGEPARK_STRIPE_API_KEY")),
        webhook_secret=optional(*src.get("CHARGEPARK_STRIPE_WEBHOOK_SECRET")),
        api_base=optional_http_url(*src.get("CHARGEPARK_STRIPE_API_BASE")),
    )


BILLING = Section(
    "billing",
    {
        "CHARGEPARK_BILLING_VISIT_TIMEOUT": ("billing_visit_timeout", str(24 * 3600)),
        "CHARGEPARK_BILLING_SETTLE_SEC": ("billing_settle_sec", "60"),
        "CHARGEPARK_BILLING_JOB_INTERVAL": ("billing_job_interval", "15"),
        "CHARGEPARK_BILLING_MAX_DECLINES": ("billing_max_declines", "3"),
        "CHARGEPARK_BILLING_DECLINE_RETRY": ("billing_decline_retry", "3600"),
        "CHARGEPARK_BILLING_UNAVAILABLE_MAX_BACKOFF": ("billing_unavailable_max_backoff", "3600"),
    },
    _billing,
    BillingSettings,
)

STRIPE = Section(
    "stripe",
    {
        "CHARGEPARK_STRIPE_API_KEY": ("stripe_api_key", ""),
        "CHARGEPARK_STRIPE_WEBHOOK_SECRET": ("stripe_webhook_secret", ""),
        "CHARGEPARK_STRIPE_API_BASE": ("stripe_api_base", ""),
    },
    _stripe,
    StripeSettings,
)

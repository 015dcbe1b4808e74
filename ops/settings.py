"""ops's own settings: alert evaluation and webhook delivery (CHARGEPARK_OPS_*).

Read at start-up with the kernel's readers (chargepark.config.values); ops takes them with
`OPS.of(settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargepark.config.values import (
    Section,
    Source,
    optional_http_url,
    positive_int,
    seconds_between,
)


@dataclass(frozen=True)
class OpsSettings:
    # The alert job runs every `alert_interval_sec` (evaluates rules, sends due webhooks). Each
    # incident change is POSTed to `alert_webhook_url` when set, retried with backoff up to
    # `webhook_max_attempts` times.
    alert_interval_sec: float = 15.0
    alert_webhook_url: str | None = None
    webhook_max_attempts: int = 12


def _ops(src: Source) -> OpsSettings:
    return OpsSettings(
        alert_interval_sec=seconds_between(0.1, 86400, *src.get("CHARGEPARK_OPS_ALERT_INTERVAL")),
        alert_webhook_url=optional_http_url(*src.get("CHARGEPARK_OPS_ALERT_WEBHOOK_URL")),
        webhook_max_attempts=positive_int(*src.get("CHARGEPARK_OPS_WEBHOOK_MAX_ATTEMPTS")),
    )


OPS = Section(
    "ops",
    {
        "CHARGEPARK_OPS_ALERT_INTERVAL": ("ops_alert_interval", "15"),
        "CHARGEPARK_OPS_ALERT_WEBHOOK_URL": ("ops_alert_webhook_url", ""),
        "CHARGEPARK_OPS_WEBHOOK_MAX_ATTEMPTS": ("ops_webhook_max_attempts", "12"),
    },
    _ops,
    OpsSettings,
)

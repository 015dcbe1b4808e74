"""What the 1.6 and 2.0.1 adapters share: the service they call, presence, and time parsing."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from chargepark.clock import Clock
from chargepark.db.group_commit import GroupCommitWriter
from csms.authorization import Authorizer
from csms.presence import Presence
from csms.service import ChargingService
from csms.sessions import sample_rows
from csms.transactions import TransactionService

log = logging.getLogger("csms.ocpp")


class Adapter:
    """Mixed into each version's ChargePoint; `id` and `route_message` come from the library."""

    id: str

    def __init__(
        self,
        charger_id: str,
        connection: Any,
        *,
        service: ChargingService,
        authorizer: Authorizer,
        transactions: TransactionService,
        samples: GroupCommitWriter,
        notifications: GroupCommitWriter,
        presence: Presence,
        clock: Clock,
        ocpp_version: str,
    ) -> None:
        super().__init__(charger_id, connection)  # type: ignore[call-arg]
        self.service = service
        self.authorizer = authorizer
        self.transactions = transactions
        self.samples = samples
        self.notifications = notifications
        self.presence = presence
        self.clock = clock
        self.ocpp_version = ocpp_version

    async def route_message(self, raw: str) -> None:
        # Any frame is a sign of life: presence is in memory, flushed in batches.
        self.presence.seen(self.id, self.clock.now())
        await super().route_message(raw)  # type: ignore[misc]

    async def store_samples(
        self,
        evse_id: int,
        connector_id: int,
        transaction_id: str | None,
        meter_values: list[dict[str, Any]] | None,
    ) -> None:
        """Every sampled value is kept; the answer waits for the (group) commit."""
        await self.samples.write(
            sample_rows(
                self.id, evse_id, connector_id, transaction_id, meter_values, self.charger_time
            )
        )

    async def keep(self, action: str, payload: dict[str, Any]) -> None:
        """Keep a notification as received (snake_case keys, as the library hands it over)."""
        await self.notifications.write(
            [
                {
                    "charger_id": self.id,
                    "action": action,
                    "payload": json.dumps(payload, separators=(",", ":"), default=str),
                    "received_at": self.clock.now(),
                }
            ]
        )

    async def keep_security_event(self, payload: dict[str, Any]) -> None:
        """A security event (2.0.1 A04, the 1.6 security whitepaper) is kept and also logged,
        for whoever watches the security log."""
        log.warning(
            "charger security event",
            extra={"charger_id": self.id, "security_event": payload.get("type")},
        )
        await self.keep("SecurityEventNotification", payload)

    def charger_time(self, timestamp: str | None) -> datetime:
        """The charger's timestamp when it sent a sane one, else our clock."""
        if timestamp:
            try:
                parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
                if parsed.tzinfo is not None:
                    return parsed
            except ValueError:
                pass
            log.info(
                "unusable charger timestamp",
                extra={"charger_id": self.id, "timestamp": timestamp[:40]},
            )
        return self.clock.now()

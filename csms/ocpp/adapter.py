"""What the 1.6 and 2.0.1 adapters share: the service they call, presence, and time parsing."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import FormatViolationError

from chargepark.clock import Clock, isoformat_utc
from chargepark.db.group_commit import GroupCommitWriter
from csms.adapters.presence import Presence
from csms.ocpp.readings import sample_rows
from csms.ocpp.smart_charging import SmartChargingEdge
from csms.services.authorization import Authorizer
from csms.services.chargers import ChargingService
from csms.services.sessions import SessionService

log = logging.getLogger("csms.ocpp")

# The rule for charger times far from ours (`Adapter.within_clock`, docs/ocpp-support.md).
CLOCK_AHEAD_MAX = timedelta(minutes=5)
NO_CLOCK_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
SKEW_NOTE_EVERY_SEC = 3600.0
_SKEW_NOTED_MAX = 10_000
_skew_noted: dict[str, float] = {}  # charger id -> when its skew was last logged (monotonic)


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
        transactions: SessionService,
        samples: GroupCommitWriter,
        notifications: GroupCommitWriter,
        presence: Presence,
        clock: Clock,
        ocpp_version: str,
        smart_charging: SmartChargingEdge | None = None,
    ) -> None:
        super().__init__(charger_id, connection)  # type: ignore[call-arg]  # the library ChargePoint, later in the MRO
        self.service = service
        self.authorizer = authorizer
        self.transactions = transactions
        self.samples = samples
        self.notifications = notifications
        self.presence = presence
        self.clock = clock
        self.ocpp_version = ocpp_version
        self._skews: list[dict[str, Any]] = []  # clock skews to keep (`within_clock`)
        self.smart_charging = smart_charging
        # The first message of a connection that is not a BootNotification means the charger
        # came back without restarting: smart charging checks what it still holds.
        self._fresh = smart_charging is not None
        self._booted = False  # an accepted boot answered: smart charging setup follows

    async def route_message(self, raw: str | bytes) -> None:
        # Any frame is a sign of life: presence is in memory, flushed in batches.
        self.presence.seen(self.id, self.clock.now())
        await super().route_message(raw)  # type: ignore[misc]  # ProtocolEdge, later in the MRO
        if self._fresh or self._booted:
            self._after_answer()
        if self._skews:
            # Kept like a security event, for operators; before this charger's next message
            # is read. A failure here is ours: logged, the connection stays.
            skews, self._skews = self._skews, []
            try:
                for note in skews:
                    await self.keep("ClockSkew", note)
            except Exception:
                log.exception("clock skew not kept", extra={"charger_id": self.id})

    def _after_answer(self) -> None:
        """Smart charging setup, once the boot's (or the first message's) answer went out:
        as a task, never awaited here (its commands' answers come through this very loop)."""
        assert self.smart_charging is not None
        if self._booted:
            self.smart_charging.after_boot(self.id, self.ocpp_version)
        elif self._fresh:
            self.smart_charging.after_reconnect(self.id, self.ocpp_version)
        self._fresh = self._booted = False

    def booted(self, accepted: bool) -> None:
        """A BootNotification was answered (Accepted or not): no reconnect check follows."""
        self._fresh = False
        self._booted = accepted and self.smart_charging is not None

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

    def charger_time(self, timestamp: str | None, field: str = "timestamp") -> datetime:
        """The charger's time for `field`, by the rule in `within_clock`; our clock when the
        charger left an optional timestamp out (1.6 StatusNotification)."""
        if timestamp is None:
            return self.clock.now()
        return self.within_clock(stamped_time(timestamp, field), timestamp, field)

    def within_clock(self, at: datetime, timestamp: str, field: str) -> datetime:
        """`at`, unless it cannot be the time of something that happened: then our clock, with
        the skew logged and kept (once per charger per `SKEW_NOTE_EVERY_SEC`), never silently.

        Later than `CLOCK_AHEAD_MAX` past our clock has not happened yet (a session starting
        in 2100 would end before it began). Before `NO_CLOCK_BEFORE` is a clock that was never
        set: an RTC without its battery restarts at 1970 or 2000 until BootNotification's
        currentTime sets it. Anything between is taken as said: 2.0.1 offline transactions
        (E04) and 1.6 queued transaction messages are sent late, days late after a long outage.
        """
        now = self.clock.now()
        if NO_CLOCK_BEFORE <= at <= now + CLOCK_AHEAD_MAX:
            return at
        last = _skew_noted.get(self.id)
        tick = time.monotonic()
        if last is None or tick - last >= SKEW_NOTE_EVERY_SEC:
            if len(_skew_noted) >= _SKEW_NOTED_MAX:
                _skew_noted.clear()
            _skew_noted[self.id] = tick
            note = {
                "field": field,
                "charger_time": timestamp[:40],
                "server_time": isoformat_utc(now),
                "skew_sec": int((at - now).total_seconds()),
                "taken": "server_time",
            }
            log.warning(
                "charger clock skewed: our time taken", extra={"charger_id": self.id, **note}
            )
            self._skews.append(note)  # kept once the message is answered (`route_message`)
        return now


def stamped_time(timestamp: str, field: str = "timestamp") -> datetime:
    """A charger's timestamp as it says it, or FormatViolation (FormationViolation in 1.6)
    naming the field: OCPP times are RFC 3339 date-times, in UTC or with their offset (the
    schemas' `date-time` format), and a time we cannot read, or read in no time zone, is no
    time at all: taking ours instead would start a session at a time nobody said."""
    try:
        at = datetime.fromisoformat(timestamp)
    except (ValueError, TypeError):
        at = None
    if at is None or at.tzinfo is None:
        cause = f"{field}: {timestamp[:40]!r} is no ISO 8601 date-time with a time zone"
        raise FormatViolationError(details={"cause": cause})
    return at

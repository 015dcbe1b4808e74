"""The simulated charger: one WebSocket to the CSMS, any number of EVSEs, a simulated clock.

Version-free behaviour lives in the charger's parts, which `ChargePointSimulator` assembles:

- station.py: its state, events and waiting, status reports, settings, background tasks
- connection.py: connecting, booting, heartbeats, one CALL; disconnect, reconnect, reboot
- transactions.py: what drivers and cars do (plug, authorize, charge, stop, unplug, faults)
- metering.py: the meter along the car's power curve, periodic meter samples
- commands.py: what the CSMS asks (remote start, availability, unlock, reset)
- reservations.py: reserve and cancel
- smart_charging.py: charging profiles (profiles.py), the limit the car obeys
- here: starting and stopping the charger, and the transaction-message queue's delivery

`v16.py` and `v201.py` spell its messages in their protocol; `v16_commands.py` and
`v201_commands.py` answer the CSMS's commands (`client.py`: what both versions share).

Library use:

    async with ChargePointSimulator(ChargerConfig("CP-1", "ws://127.0.0.1:9000/ocpp")) as cp:
        await cp.wait_booted()
        await cp.plug(1, Vehicle(battery_kwh=60, soc=0.3))
        await cp.authorize(1, "RFID-1")
        await cp.charge(1, kwh=10)
        await cp.stop_transaction(1)
        await cp.unplug(1)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import OCPPError

from simulators.chargepoint.commands import RemoteCommands
from simulators.chargepoint.config import ChargerConfig, SimEvent
from simulators.chargepoint.connection import Connection
from simulators.chargepoint.errors import Offline, SimulatorError
from simulators.chargepoint.metering import Metering
from simulators.chargepoint.queue import Queued
from simulators.chargepoint.reservations import Reservations
from simulators.chargepoint.smart_charging import SmartCharging
from simulators.chargepoint.station import log
from simulators.chargepoint.transactions import Transactions
from simulators.clock import SimClock

__all__ = ["MAX_TX_ATTEMPTS", "ChargePointSimulator", "Offline", "SimulatorError"]

MAX_TX_ATTEMPTS = 3  # a transaction message the CSMS answers with an error is dropped after


class ChargePointSimulator(
    Connection, Transactions, Metering, RemoteCommands, Reservations, SmartCharging
):
    def __init__(
        self,
        config: ChargerConfig,
        *,
        clock: SimClock | None = None,
        on_event: Callable[[SimEvent], None] | None = None,
    ) -> None:
        from simulators.chargepoint.v16 import V16
        from simulators.chargepoint.v201 import V201

        super().__init__(config, clock=clock, on_event=on_event)
        self.protocol = (V16 if config.ocpp == "1.6" else V201)(self)
        self.settings = self.protocol.default_settings()

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> ChargePointSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect (in the background, retrying) and boot. Returns at once; await
        `wait_booted()` for the CSMS's Accepted."""
        if self._runner is not None:
            return
        self._want_online.set()
        self._runner = asyncio.create_task(self._run(), name=f"sim-{self.id}")

    async def stop(self) -> None:
        """Close the connection and stop every task (the simulator is done)."""
        self._closing = True
        self._want_online.set()
        self._drop.set()
        tasks = [*self._tasks, *self._charging.values()]
        if self._runner is not None:
            tasks.append(self._runner)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runner = None
        self._tasks.clear()
        self._charging.clear()

    # --- transaction messages: queued, delivered in order --------------------------------

    async def _pump(self) -> None:
        """Send queued transaction messages in order; on a lost connection the head stays."""
        while True:
            item = await self.queue.head()
            try:
                result = await self.call(item.build())
            except OCPPError as exc:
                item.attempts += 1
                if item.attempts < MAX_TX_ATTEMPTS:
                    await self.clock.sleep(10)
                    continue
                self.queue.pop()
                self.emit("error", f"{item.action} dropped: {exc}", action=item.action)
                if item.done is not None and not item.done.done():
                    item.done.set_exception(exc)
                continue
            except TimeoutError:
                item.attempts += 1
                continue
            self.queue.pop()
            if item.offline:
                self._replayed += 1
                if len(self.queue) == 0 or not self.queue.head_nowait().offline:
                    n, self._replayed = self._replayed, 0
                    self.emit("replayed", f"{n} message(s) queued offline delivered", count=n)
            if item.on_answer is not None:
                item.on_answer(result)
            if item.done is not None and not item.done.done():
                item.done.set_result(result)
            self._changed.set()

    def enqueue(
        self,
        action: str,
        build: Callable[[], Any],
        on_answer: Callable[[Any], None] | None = None,
        transaction: str | None = None,
    ) -> Queued:
        item = Queued(action, build, on_answer, offline=not self.accepted, transaction=transaction)
        self.queue.put(item)
        return item

    async def try_call(self, request: Any) -> Any | None:
        """A non-transaction message: sent when connected, else dropped (None)."""
        if not self.accepted and type(request).__name__ != "BootNotification":
            return None
        try:
            return await self.call(request)
        except (Offline, TimeoutError, OCPPError) as exc:
            log.info("%s: %s not delivered: %s", self.id, type(request).__name__, exc)
            return None

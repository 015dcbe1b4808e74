"""What drivers and cars do at the charger, and the transactions that follow: plug, present a
card (authorized online, or offline from the cache and the local list), charge, stop, unplug;
a fault and its recovery; the CSMS's verdict on a transaction's id token."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from simulators.chargepoint.errors import Offline, SimulatorError
from simulators.chargepoint.evse import Evse, PendingAuth, Transaction
from simulators.chargepoint.power import Vehicle
from simulators.chargepoint.station import Station


class Transactions(Station):
    async def plug(self, evse_id: int, vehicle: Vehicle | None = None, connector: int = 1) -> None:
        e = self.evse(evse_id)
        if e.vehicle is not None:
            raise SimulatorError(f"EVSE {evse_id} already has a car plugged in")
        if e.fault is not None or not e.operative:
            raise SimulatorError(f"EVSE {evse_id} is {self.status_of(e)}")
        if not 1 <= connector <= e.connectors:
            raise SimulatorError(f"EVSE {evse_id} has no connector {connector}")
        e.vehicle = vehicle or Vehicle()
        e.connector = connector
        e.finished = False
        e.car_satisfied = False
        self.emit("plug", "cable plugged in", evse_id, regnum=e.vehicle.regnum)
        pending = e.pending
        if pending is not None and pending.expires_at >= self.clock.now():
            e.pending = None
            self._start(e, pending.id_token, pending.remote_start_id, pending.trigger)
        else:
            e.pending = None
        await self.report(e)

    async def authorize(self, evse_id: int, id_token: str) -> str:
        """A driver presents `id_token` (RFID) at the EVSE. Accepted: the transaction starts
        (now, or when the car is plugged in). Returns the authorization status."""
        e = self.evse(evse_id)
        if e.tx is not None:
            raise SimulatorError(f"EVSE {evse_id} already has a transaction")
        if e.reservation is not None and e.reservation.id_token != id_token:
            self.emit("authorize", f"{id_token}: the EVSE is reserved for another", evse_id)
            return "Reserved"
        status = await self.check_token(id_token)
        self.emit("authorize", f"Authorize {id_token}: {status}", evse_id, status=status)
        if status != "Accepted":
            return status
        self._begin_when_plugged(e, id_token, None, "Authorized")
        await self.report(e)
        return status

    async def check_token(self, id_token: str) -> str:
        if self.accepted:
            try:
                result = await self.call(self.protocol.authorize(id_token))
            except (Offline, TimeoutError):
                return self._offline_verdict(id_token)
            status = self.protocol.auth_status(result)
            if status == "Accepted":
                self.auth_cache[id_token] = status
            else:
                self.auth_cache.pop(id_token, None)
            return status
        return self._offline_verdict(id_token)

    def _offline_verdict(self, id_token: str) -> str:
        known = self.local_list.get(id_token) or self.auth_cache.get(id_token)
        if known is not None:
            return known
        return "Accepted" if self.setting_bool("AllowOfflineTxForUnknownId") else "Invalid"

    def _begin_when_plugged(
        self, e: Evse, id_token: str, remote_start_id: int | None, trigger: str
    ) -> None:
        if e.vehicle is not None:
            self._start(e, id_token, remote_start_id, trigger)
            return
        timeout = self.setting_int("ConnectionTimeOut", 120)
        e.pending = PendingAuth(
            id_token,
            remote_start_id,
            self.clock.now() + timedelta(seconds=timeout),
            trigger,
        )
        e.finished = False
        self.spawn(self._expire_pending(e, e.pending))

    async def _expire_pending(self, e: Evse, pending: PendingAuth) -> None:
        await self.clock.sleep_until(pending.expires_at)
        if e.pending is pending:
            e.pending = None
            self.emit("authorize", f"{pending.id_token}: no car plugged in in time", e.id)
            await self.report(e)

    def _settle(self) -> None:
        """Before a car starts or stops drawing: the other EVSEs' meters up to now (they
        share the charger's maximum, so their share changes), and a fresh look at it."""
        for x in self.evses.values():
            self.advance(x)
            x.poke()

    def _start(self, e: Evse, id_token: str, remote_start_id: int | None, trigger: str) -> None:
        self._settle()
        now = self.clock.now()
        meter = round(e.meter_wh)
        e.meter_wh = float(meter)
        e.last_advance = now
        if e.reservation is not None and e.reservation.id_token == id_token:
            e.reservation = None
        tx = Transaction(next(self._tx_ids), id_token, meter, now, remote_start_id)
        tx.answered = asyncio.get_running_loop().create_future()
        e.tx = tx
        e.finished = False
        car = e.vehicle
        if car is not None and car.want_kwh is not None:
            e.target_wh = meter + round(car.want_kwh * 1000)
        else:
            e.target_wh = None
        e.car_satisfied = False
        self.protocol.tx_started(e, tx, trigger)
        profile, e.start_profile = e.start_profile, None
        if profile is not None:
            self.set_profile(replace(profile, evse=e.id, transaction_id=tx.transaction_id))
        self.emit(
            "tx_started",
            f"transaction started ({id_token}, meter {meter} Wh)",
            e.id,
            id_token=id_token,
            meter_start_wh=meter,
        )
        self._charging[e.id] = self.spawn(self._charge_loop(e, tx))
        self.changed(e)

    def tx_verdict(self, e: Evse, tx: Transaction, status: str) -> None:
        """The CSMS's verdict on the transaction's id token (StartTransaction's idTagInfo,
        TransactionEvent's idTokenInfo): anything but Accepted ends it (DeAuthorized)."""
        if tx.answered is not None and not tx.answered.done():
            tx.answered.set_result(status)
        if status != "Accepted" and e.tx is tx:
            self.emit("tx_refused", f"the CSMS refused the transaction: {status}", e.id)
            self.spawn(self.end_transaction(e.id, "DeAuthorized"))

    async def charge(
        self,
        evse_id: int,
        kwh: float | None = None,
        soc: float | None = None,
        within: float | None = None,
    ) -> float:
        """The car draws until it has taken `kwh` in this transaction (or reached `soc`, or is
        full); waits for that, or for the transaction to end. Returns the kWh delivered."""
        e = self.evse(evse_id)
        tx = e.tx
        if tx is None or e.vehicle is None:
            raise SimulatorError(f"EVSE {evse_id} has no transaction to charge in")
        self.advance(e)
        car = e.vehicle
        if soc is not None:
            car.want_soc = soc
        if kwh is not None:
            car.want_kwh = kwh
            e.target_wh = tx.meter_start_wh + round(kwh * 1000)
        e.car_satisfied = False
        self.changed(e)
        if within is None:
            within = self._charge_timeout(e)
        await self.wait_for(lambda: e.tx is not tx or e.car_satisfied, within)
        return (e.meter_wh - tx.meter_start_wh) / 1000

    async def stop_transaction(
        self, evse_id: int, reason: str = "Local", id_token: str | None = None
    ) -> None:
        """The driver ends the transaction at the charger (presents the card again)."""
        await self.end_transaction(evse_id, reason, id_token=id_token)

    async def end_transaction(
        self,
        evse_id: int,
        reason: str,
        *,
        id_token: str | None = None,
        trigger: str | None = None,
    ) -> Transaction | None:
        e = self.evse(evse_id)
        tx = e.tx
        if tx is None:
            return None
        self._settle()
        tx.ended_at = self.clock.now()
        tx.stop_reason = reason
        e.tx = None
        e.target_wh = None
        e.power_w = 0.0
        e.finished = e.vehicle is not None
        task = self._charging.pop(e.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.protocol.tx_ended(e, tx, reason, id_token, trigger)
        self.tx_profiles_end(e)
        e.limited, e.amps, e.sampled_limit = False, 0.0, None
        kwh = (e.meter_wh - tx.meter_start_wh) / 1000
        self.emit(
            "tx_ended",
            f"transaction ended ({reason}): {kwh:.3f} kWh",
            e.id,
            reason=reason,
            kwh=round(kwh, 3),
        )
        if e.inoperative_scheduled:
            e.inoperative_scheduled = False
            e.operative = False
        await self.report(e)
        if self._reset_when_idle and all(x.tx is None for x in self.evses.values()):
            kind, self._reset_when_idle = self._reset_when_idle, None
            self.spawn(self.reboot(kind))
        return tx

    async def unplug(self, evse_id: int) -> None:
        e = self.evse(evse_id)
        if e.vehicle is None:
            raise SimulatorError(f"EVSE {evse_id} has nothing plugged in")
        if e.tx is not None:
            await self.end_transaction(evse_id, "EVDisconnected", trigger="EVCommunicationLost")
        e.vehicle = None
        e.finished = False
        self.emit("unplug", "cable unplugged", evse_id)
        await self.report(e)

    async def fault(self, evse_id: int, error_code: str = "GroundFailure") -> None:
        """A fault on the EVSE: power stops (a transaction stays open, suspended)."""
        e = self.evse(evse_id)
        self.advance(e)
        e.fault = error_code
        self.emit("fault", f"fault: {error_code}", evse_id, error_code=error_code)
        if e.tx is not None:
            self.protocol.tx_updated(e, e.tx, "ChargingStateChanged")
        self.changed(e)
        await self.report(e)

    async def recover(self, evse_id: int) -> None:
        e = self.evse(evse_id)
        if e.fault is None:
            return
        self.advance(e)
        e.fault = None
        self.emit("recovered", "fault cleared", evse_id)
        if e.tx is not None:
            self.protocol.tx_updated(e, e.tx, "ChargingStateChanged")
        self.changed(e)
        await self.report(e)

"""The simulated charger: one WebSocket to the CSMS, any number of EVSEs, a simulated clock.

Version-free behaviour lives here (connection, boot, heartbeats, plug, authorize, charge,
stop, unplug, faults, the transaction queue); `v16.py` and `v201.py` spell it in their
protocol and answer the CSMS's commands.

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
import base64
import contextlib
import itertools
import logging
import math
import random
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import websockets
from ocpp.exceptions import OCPPError

from simulators.chargepoint.config import ChargerConfig, SimEvent
from simulators.chargepoint.evse import Evse, PendingAuth, Reservation, Transaction
from simulators.chargepoint.power import Vehicle, integrate, seconds_to
from simulators.chargepoint.queue import Queued, TxQueue
from simulators.clock import SimClock

log = logging.getLogger("simulators.chargepoint")

MAX_TX_ATTEMPTS = 3  # a transaction message the CSMS answers with an error is dropped after


class Offline(Exception):
    """The charger has no connection to the CSMS right now."""


class SimulatorError(Exception):
    """A step the charger cannot do in its present state (e.g. plug into a busy EVSE)."""


class _Connection:
    def __init__(self, client: Any, ws: Any) -> None:
        self.client = client
        self.ws = ws
        self.closed = asyncio.Event()


class ChargePointSimulator:
    def __init__(
        self,
        config: ChargerConfig,
        *,
        clock: SimClock | None = None,
        on_event: Callable[[SimEvent], None] | None = None,
    ) -> None:
        from simulators.chargepoint.v16 import V16
        from simulators.chargepoint.v201 import V201

        self.config = config
        self.id = config.id
        self.clock = clock or SimClock()
        self.on_event = on_event
        self.evses: dict[int, Evse] = {
            i: Evse(i, config.connectors_per_evse, config.curve) for i in range(1, config.evses + 1)
        }
        self.protocol: V16 | V201 = (V16 if config.ocpp == "1.6" else V201)(self)
        self.settings: dict[str, str] = self.protocol.default_settings()
        self.queue = TxQueue()
        self.auth_cache: dict[str, str] = {}
        self.local_list: dict[str, str] = {}
        self.local_list_version = 0
        self.registration: str | None = None
        self.events: list[SimEvent] = []
        self.boots = 0
        self.connects = 0
        self.connect_failures = 0  # connection attempts refused or failed
        self.drops = 0  # connections lost without being asked to (disconnect, reboot, stop)
        self.station_operative = True
        self._conn: _Connection | None = None
        self._need_boot = True
        self._boot_reason = "PowerUp"
        self._want_online = asyncio.Event()
        self._drop = asyncio.Event()
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charging: dict[int, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._tx_ids = itertools.count(1)
        self._reset_when_idle: str | None = None
        self._replayed = 0

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

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def accepted(self) -> bool:
        return self.connected and self.registration == "Accepted" and not self._need_boot

    # --- events and waiting -------------------------------------------------------------

    def emit(self, kind: str, text: str, evse: int | None = None, **data: Any) -> SimEvent:
        event = SimEvent(self.clock.now(), self.id, kind, text, evse, data)
        self.events.append(event)
        log.debug("%s", event.line())
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("event callback failed")
        self._changed.set()
        return event

    async def wait_for(self, predicate: Callable[[], bool], within: float = 30.0) -> None:
        """Wait (wall seconds) until `predicate()` holds; it is checked after every event."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_event(
        self, kind: str, within: float = 30.0, since: int = 0, **match: Any
    ) -> SimEvent:
        """The first event of `kind` (from index `since` of `events`) whose data has `match`."""
        found: list[SimEvent] = []

        def seen() -> bool:
            for e in self.events[since:]:
                if e.kind == kind and all(
                    (e.evse if k == "evse" else e.data.get(k)) == v for k, v in match.items()
                ):
                    found.append(e)
                    return True
            return False

        await self.wait_for(seen, within)
        return found[0]

    async def wait_booted(self, within: float = 30.0) -> None:
        await self.wait_for(lambda: self.accepted, within)

    async def wait_status(self, evse: int, status: str, within: float = 30.0) -> None:
        """Until the EVSE's status (in this charger's OCPP version's terms) is `status` and the
        CSMS has been told (when connected)."""
        e = self.evses[evse]

        def there() -> bool:
            now = self.status_of(e)
            return now == status and (not self.accepted or e.sent == now)

        await self.wait_for(there, within)

    async def wait_idle(self, within: float = 30.0) -> None:
        """Until every queued transaction message has been answered."""
        await self.wait_for(lambda: len(self.queue) == 0 and self.accepted, within)

    def status_of(self, evse: Evse) -> str:
        return evse.status16() if self.config.ocpp == "1.6" else evse.status201()

    # --- the connection -----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.config.password is None:
            return {}
        raw = f"{self.id}:{self.config.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.config.url.startswith("wss://"):
            return None
        ctx = ssl.create_default_context(cafile=self.config.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    async def _run(self) -> None:
        delay = self.config.reconnect_delay
        while not self._closing:
            await self._want_online.wait()
            if self._closing:
                return
            url = f"{self.config.url.rstrip('/')}/{self.id}"
            try:
                ws = await websockets.connect(
                    url,
                    subprotocols=[self.protocol.subprotocol],  # type: ignore[list-item]
                    additional_headers=self._headers(),
                    ssl=self._ssl(),
                    open_timeout=10,
                    ping_interval=20,
                    max_size=2**22,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connect_failures += 1
                self.emit("connect_failed", f"cannot connect: {_why(exc)}", reason=_why(exc))
                # OCPP 2.0.1 Part 4 (OCPP-J), reconnecting: a wait that doubles per attempt
                # (RetryBackOffWaitMinimum, up to a cap) plus a random part up to
                # RetryBackOffRandomRange, so chargers cut off together do not all come back
                # in the same instant (the same holds for 1.6 chargers in the field).
                await asyncio.sleep(delay + random.uniform(0, self.config.reconnect_random))
                delay = min(delay * 2, 30.0)
                continue
            delay = self.config.reconnect_delay
            await self._online(ws)

    async def _online(self, ws: Any) -> None:
        conn = _Connection(self.protocol.client(ws), ws)
        self._conn = conn
        self.connects += 1
        self._drop.clear()
        self.emit("connected", f"connected to {self.config.url} (OCPP {self.config.ocpp})")
        listener = asyncio.create_task(conn.client.start())
        worker = asyncio.create_task(self._session())
        dropped = asyncio.create_task(self._drop.wait())
        try:
            done, _ = await asyncio.wait(
                {listener, worker, dropped}, return_when=asyncio.FIRST_COMPLETED
            )
            if worker in done and not worker.cancelled() and worker.exception() is not None:
                exc = worker.exception()
                if not isinstance(exc, Offline | websockets.ConnectionClosed):
                    log.error("charger %s failed", self.id, exc_info=exc)
                    self.emit("error", f"failed: {type(exc).__name__}: {exc}")
        finally:
            self._conn = None
            conn.closed.set()
            for task in (listener, worker, dropped):
                task.cancel()
            for task in (listener, worker, dropped):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await ws.close()
            for evse in self.evses.values():
                evse.sent = None  # reported again on the next connection
            if not self._closing:
                if self._want_online.is_set():
                    self.drops += 1
                self.emit("disconnected", "connection closed")

    async def _session(self) -> None:
        if self._need_boot or self.registration != "Accepted":
            await self._boot()
        await self._report_all()
        pump = asyncio.create_task(self._pump())
        try:
            while True:
                await self.clock.sleep(self.heartbeat_interval)
                try:
                    await self.call(self.protocol.heartbeat())
                except (OCPPError, TimeoutError) as exc:
                    self.emit("error", f"Heartbeat not answered: {exc}")
                    continue
                self.emit("heartbeat", "Heartbeat")
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    @property
    def heartbeat_interval(self) -> int:
        return max(1, int(self.settings.get("HeartbeatInterval", "300")))

    async def _boot(self) -> None:
        while True:
            result = await self.call(self.protocol.boot(self._boot_reason))
            self.registration = result.status
            interval = int(result.interval or 0)
            self.boots += 1
            self.emit(
                "boot",
                f"BootNotification: {result.status} (interval {interval} s)",
                status=result.status,
                interval=interval,
            )
            if result.status == "Accepted":
                if self.config.heartbeat_interval is not None:
                    interval = self.config.heartbeat_interval
                if interval > 0:
                    self.settings["HeartbeatInterval"] = str(interval)
                self._need_boot = False
                self._boot_reason = "PowerUp"
                return
            await self.clock.sleep(interval if interval > 0 else 60)

    async def call(self, request: Any) -> Any:
        """Send one CALL and wait for its answer; Offline when there is no connection or it
        closes first. A CALLERROR raises the library's OCPPError."""
        conn = self._conn
        if conn is None:
            raise Offline(self.id)
        sent = asyncio.create_task(conn.client.call(request, suppress=False))
        closed = asyncio.create_task(conn.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {sent, closed},
                timeout=self.config.response_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            closed.cancel()
            if not sent.done():
                sent.cancel()
        if sent in done:
            try:
                return sent.result()
            except websockets.ConnectionClosed:
                raise Offline(self.id) from None
        if closed in done:
            raise Offline(self.id)
        raise TimeoutError(f"no answer to {type(request).__name__}")

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

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    async def try_call(self, request: Any) -> Any | None:
        """A non-transaction message: sent when connected, else dropped (None)."""
        if not self.accepted and type(request).__name__ != "BootNotification":
            return None
        try:
            return await self.call(request)
        except (Offline, TimeoutError, OCPPError) as exc:
            log.info("%s: %s not delivered: %s", self.id, type(request).__name__, exc)
            return None

    # --- status -------------------------------------------------------------------------

    async def _report_all(self) -> None:
        for request in self.protocol.station_status():
            with contextlib.suppress(OCPPError, TimeoutError):
                await self.call(request)
        for evse in self.evses.values():
            await self.report(evse, force=True)

    async def report(self, evse: Evse, force: bool = False) -> None:
        """Tell the CSMS the EVSE's status when it changed (or always, with `force`)."""
        async with evse.lock:
            status = self.status_of(evse)
            if evse.shown != status:
                evse.shown = status
                self.emit("status", f"status {status}", evse.id, status=status)
            if not self.accepted or (not force and evse.sent == status):
                return
            try:
                for request in self.protocol.status(evse, status):
                    await self.call(request)
            except (Offline, TimeoutError, OCPPError):
                return
            evse.sent = status
            self._changed.set()

    def changed(self, evse: Evse) -> None:
        """After any change to an EVSE: report its status (in the background)."""
        evse.poke()
        self.later(lambda: self.report(evse))

    # --- what drivers and cars do -------------------------------------------------------

    def evse(self, evse_id: int) -> Evse:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise SimulatorError(f"{self.id} has no EVSE {evse_id}") from None

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

    def _start(self, e: Evse, id_token: str, remote_start_id: int | None, trigger: str) -> None:
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

    def _charge_timeout(self, e: Evse) -> float:
        car = e.vehicle
        assert car is not None
        need = (car.want_soc - car.soc) * car.battery_kwh * 1000
        if e.target_wh is not None:
            need = min(need, e.target_wh - e.meter_wh)
        eta = seconds_to(e.curve, car, max(need, 0.0))
        sim = (eta * 25 if math.isfinite(eta) else 0.0) + 3600  # the taper, and slack
        return self.clock.real(sim) + 30

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
        self.advance(e)
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

    async def disconnect(self) -> None:
        """Lose the connection (the network, not the charger): transactions go on, their
        messages queue up until `reconnect()`."""
        self._want_online.clear()
        self._drop.set()
        await self.wait_for(lambda: not self.connected, 10)

    async def reconnect(self, within: float = 30.0) -> None:
        self._want_online.set()
        await self.wait_for(lambda: self.accepted, within)

    async def reboot(self, kind: str = "Soft") -> None:
        """Reset: end the transactions, close the connection, boot again."""
        for e in self.evses.values():
            if e.tx is not None:
                await self.end_transaction(
                    e.id, self.protocol.reset_reason(kind), trigger="ResetCommand"
                )
        self.emit("reboot", f"rebooting ({kind} reset)")
        self._need_boot = True
        self._boot_reason = "RemoteReset"
        self._want_online.clear()
        self._drop.set()
        await self.wait_for(lambda: not self.connected, 10)
        await self.clock.sleep(self.config.boot_delay)
        for e in self.evses.values():
            e.pending = None
            e.fault = None
        self._want_online.set()

    # --- energy -------------------------------------------------------------------------

    def advance(self, e: Evse) -> None:
        """Bring the EVSE's meter up to the simulated now."""
        now = self.clock.now()
        last = e.last_advance or now
        e.last_advance = now
        seconds = (now - last).total_seconds()
        if not e.flowing or seconds <= 0:
            e.power_w = (
                e.curve.power_kw(e.vehicle.soc, e.vehicle.max_kw) * 1000
                if (e.flowing and e.vehicle)
                else 0.0
            )
            return
        car = e.vehicle
        assert car is not None
        limit = None if e.target_wh is None else max(0.0, e.target_wh - e.meter_wh)
        wh, _, power = integrate(e.curve, car, seconds, limit)
        e.meter_wh += wh
        e.power_w = power
        reached = e.target_wh is not None and e.meter_wh >= e.target_wh - 1e-6
        if reached:
            e.meter_wh = float(e.target_wh)  # type: ignore[arg-type]
        if reached or car.soc >= car.want_soc:
            e.car_satisfied = True
            e.power_w = 0.0
            tx = e.tx
            if tx is not None:
                kwh = (e.meter_wh - tx.meter_start_wh) / 1000
                self.emit(
                    "car_satisfied",
                    f"car stops drawing: {kwh:.3f} kWh, SoC {car.soc:.0%}",
                    e.id,
                    kwh=round(kwh, 3),
                )
                self.protocol.tx_updated(e, tx, "ChargingStateChanged")
            self.changed(e)

    async def _charge_loop(self, e: Evse, tx: Transaction) -> None:
        interval = self.meter_interval
        next_sample = tx.started_at + timedelta(seconds=interval)
        while e.tx is tx:
            wake = next_sample
            if e.flowing and e.vehicle is not None:
                car = e.vehicle
                need = (car.want_soc - car.soc) * car.battery_kwh * 1000
                if e.target_wh is not None:
                    need = min(need, e.target_wh - e.meter_wh)
                eta = seconds_to(e.curve, car, max(need, 0.0))
                if math.isfinite(eta):  # infinite: no power now (a full car), nothing to wait for
                    done_at = self.clock.now() + timedelta(seconds=max(eta, 1.0))
                    wake = min(wake, done_at)
            e.changed.clear()
            delay = self.clock.real_seconds_until(wake)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(e.changed.wait(), delay)
            if e.tx is not tx:
                return
            self.advance(e)
            if self.clock.now() >= next_sample:
                self.protocol.tx_meter(e, tx)
                self.emit(
                    "meter",
                    f"meter {e.meter_wh / 1000:.3f} kWh, {e.power_w / 1000:.1f} kW",
                    e.id,
                    meter_wh=round(e.meter_wh),
                    power_w=round(e.power_w),
                )
                interval = self.meter_interval
                next_sample += timedelta(seconds=interval)
                if next_sample < self.clock.now():
                    next_sample = self.clock.now() + timedelta(seconds=interval)

    @property
    def meter_interval(self) -> int:
        return max(1, self.setting_int("MeterValueSampleInterval", self.config.meter_interval))

    # --- settings (1.6 configuration keys; 2.0.1 variables map onto them) ----------------

    def setting_int(self, key: str, default: int) -> int:
        try:
            return int(self.settings.get(key, default))
        except ValueError:
            return default

    def setting_bool(self, key: str) -> bool:
        return self.settings.get(key, "false").lower() == "true"

    # --- what the CSMS asks for (both versions) ------------------------------------------

    def remote_start(
        self, evse_id: int | None, id_token: str, remote_start_id: int | None
    ) -> tuple[bool, Evse | None]:
        """Accept a remote start on `evse_id` (or the first EVSE that can take it)."""
        candidates = [self.evses.get(evse_id)] if evse_id else list(self.evses.values())
        for e in candidates:
            if e is None or e.tx is not None or e.fault is not None or not e.operative:
                continue
            if e.reservation is not None and e.reservation.id_token != id_token:
                continue
            if (
                evse_id is None
                and e.vehicle is None
                and any(x.vehicle is not None and x.tx is None for x in self.evses.values())
            ):
                continue  # prefer the EVSE where a car waits
            self.emit("remote_start", f"remote start for {id_token}", e.id, id_token=id_token)
            self.later(lambda e=e: self._remote_begin(e, id_token, remote_start_id))
            return True, e
        return False, None

    async def _remote_begin(self, e: Evse, id_token: str, remote_start_id: int | None) -> None:
        if self.setting_bool("AuthorizeRemoteTxRequests"):
            status = await self.check_token(id_token)
            if status != "Accepted":
                self.emit("authorize", f"remote start refused: {status}", e.id)
                return
        else:
            self.auth_cache[id_token] = "Accepted"
        if e.tx is None:
            self._begin_when_plugged(e, id_token, remote_start_id, "RemoteStart")
            await self.report(e)

    def find_tx(self, transaction_id: str) -> Evse | None:
        for e in self.evses.values():
            if e.tx is not None and e.tx.transaction_id == transaction_id:
                return e
        return None

    def reserve(self, evse_id: int | None, reservation_id: int, id_token: str, expires: str) -> str:
        try:
            expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        except ValueError:
            return "Rejected"
        candidates = [self.evses.get(evse_id)] if evse_id else list(self.evses.values())
        status = "Rejected"
        for e in candidates:
            if e is None:
                continue
            if e.fault is not None:
                status = "Faulted"
                continue
            if not e.operative:
                status = "Unavailable"
                continue
            if e.tx is not None or e.vehicle is not None or e.reservation is not None:
                if e.reservation is not None and e.reservation.reservation_id == reservation_id:
                    pass
                else:
                    status = "Occupied"
                    continue
            e.reservation = Reservation(reservation_id, id_token, expires_at)
            self.emit("reserved", f"reserved for {id_token} ({reservation_id})", e.id)
            self.spawn(self._expire_reservation(e, e.reservation))
            self.changed(e)
            return "Accepted"
        return status

    async def _expire_reservation(self, e: Evse, r: Reservation) -> None:
        await self.clock.sleep_until(r.expires_at)
        if e.reservation is r:
            e.reservation = None
            self.emit("reservation_expired", f"reservation {r.reservation_id} expired", e.id)
            self.changed(e)

    def cancel_reservation(self, reservation_id: int) -> bool:
        for e in self.evses.values():
            if e.reservation is not None and e.reservation.reservation_id == reservation_id:
                e.reservation = None
                self.emit("reservation_cancelled", f"reservation {reservation_id} cancelled", e.id)
                self.changed(e)
                return True
        return False

    def set_availability(self, evse_id: int | None, operative: bool) -> str:
        """evse_id None or 0: the whole charger. Accepted, or Scheduled while charging."""
        targets = list(self.evses.values()) if not evse_id else [self.evses.get(evse_id)]
        if any(e is None for e in targets):
            return "Rejected"
        if not evse_id:
            self.station_operative = operative
        scheduled = False
        for e in targets:
            assert e is not None
            if not operative and e.tx is not None:
                e.inoperative_scheduled = True
                scheduled = True
                continue
            e.inoperative_scheduled = False
            e.operative = operative
            self.changed(e)
        word = "operative" if operative else "inoperative"
        self.emit("availability", f"{'whole charger' if not evse_id else 'EVSE'} {word}", evse_id)
        return "Scheduled" if scheduled else "Accepted"

    def unlock(self, evse_id: int) -> str:
        e = self.evses.get(evse_id)
        if e is None:
            return "UnknownConnector"
        if e.tx is not None:
            self.later(
                lambda: self.end_transaction(evse_id, "UnlockCommand", trigger="UnlockCommand")
            )
        self.emit("unlock", "connector unlocked", evse_id)
        return "Unlocked"

    def schedule_reset(self, kind: str, immediate: bool) -> str:
        busy = any(e.tx is not None for e in self.evses.values())
        if busy and not immediate:
            self._reset_when_idle = kind
            self.emit("reset", f"{kind} reset scheduled for when idle")
            return "Scheduled"
        self.emit("reset", f"{kind} reset")
        self.later(lambda: self.reboot(kind))
        return "Accepted"

    def later(self, make: Callable[[], Awaitable[Any]]) -> None:
        """Run `make()` once the present answer has gone out (see client.py); outside a
        command's handler, at once."""
        conn = self._conn
        if conn is not None and conn.client.in_handler:
            conn.client.after.append(make)
        else:
            self.spawn(make())  # type: ignore[arg-type]


def _why(exc: BaseException) -> str:
    if isinstance(exc, websockets.InvalidStatus):
        code = exc.response.status_code
        hint = {
            401: " (wrong or missing password)",
            404: " (is the charger registered? see POST /charging/chargers)",
        }.get(code, "")
        return f"HTTP {code}{hint}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Offline | asyncio.CancelledError):
        log.error("simulator task failed", exc_info=exc)

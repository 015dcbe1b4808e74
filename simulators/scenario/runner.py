"""Play a scenario against a running platform: chargers over OCPP, cars over parking's REST API.

Set-up (before the timeline's zero): register the chargers (csms), create the lot with an EV
bay per charger EVSE (parking), a customer per named car with its vehicle and RFID card
(accounts); start the simulated chargers and wait for their boot. Then every car's and
charger's script runs at once, each step not before its `at`. At the end: the sessions (csms)
and the invoices (billing) of the run, read back over REST.

Time: the simulated clock starts in the past, early enough that the whole timeline fits before
the wall clock's now, and catches up with it (see simulators/clock.py). Every timestamp the
platform gets (OCPP messages, park and leave `ts`) is simulated time, so invoices price the
simulated durations.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from simulators.chargepoint import (
    ChargePointSimulator,
    ChargerConfig,
    PowerCurve,
    SimEvent,
    SimulatorError,
    Vehicle,
)
from simulators.clock import SimClock, isoformat
from simulators.rest import PlatformClient, RestError
from simulators.retry import RetryStats, reset, within
from simulators.scenario.model import CarSpec, ChargerSpec, Scenario, Step
from simulators.scenario.summary import Summary

# Charger events worth a timeline line (the rest: heartbeats, meter samples, statuses).
SHOWN = {
    "tx_started",
    "tx_ended",
    "tx_refused",
    "car_satisfied",
    "fault",
    "recovered",
    "disconnected",
    "connected",
    "replayed",
    "reboot",
    "command",
    "error",
    "connect_failed",
    "boot",
}
CHARGING_STEPS = ("plug", "authorize", "charge", "stop", "unplug")


@dataclass
class CarState:
    spec: CarSpec
    customer_id: str | None = None
    slot_ui: int | None = None
    bay: tuple[str, int] | None = None  # (charger id, evse id) of the EV bay it parked in
    plugged: tuple[str, int] | None = None
    parked: bool = False
    gone: bool = False  # turned away (lot full): the rest of its script is skipped
    no_charging: bool = False  # no bay, or refused: its charging steps are skipped
    visits: int = 0


class ScenarioRunner:
    def __init__(
        self,
        scenario: Scenario,
        client: PlatformClient,
        ocpp_url: str,
        *,
        speed: float | None = None,
        out: Callable[[str], None] = print,
        verbose: bool = False,
        invoice_wait: float = 150.0,
        ca_file: str | None = None,
        meter_interval: int | None = None,
        retry_for: float = 60.0,
    ) -> None:
        self.scenario = scenario
        self.meter_interval = meter_interval or scenario.meter_interval
        self.client = client
        self.ocpp_url = ocpp_url.rstrip("/")
        self.speed = speed or scenario.speed
        self.out = out
        self.verbose = verbose
        self.invoice_wait = invoice_wait
        self.ca_file = ca_file
        # How long (wall seconds) a step waits through an outage: a charger to be back online,
        # its queued messages to be delivered. REST calls have their client's own deadline.
        self.retry_for = retry_for
        planned = scenario.planned_seconds()
        margin = planned * 0.5 + 3600 + 60 * self.speed
        self.clock = SimClock(
            self.speed, start=datetime.now(UTC) - timedelta(seconds=planned + margin)
        )
        self.sims: dict[str, ChargePointSimulator] = {}
        self.cars = {c.regnum: CarState(c) for c in scenario.cars}
        # As parking spells them (no spaces or dashes, upper case): what visits carry.
        self._regnums = {r.replace(" ", "").replace("-", "").upper() for r in self.cars}
        self._ours_by_invoice: dict[str, bool] = {}
        self.layout: dict[int, tuple[str, int]] = {}  # slot_ui -> (charger, evse)
        self.t0: datetime | None = None
        self.errors: list[str] = []
        self.wall_start = datetime.now(UTC)

    # --- output -----------------------------------------------------------------------

    def line(self, who: str, text: str) -> None:
        now = self.clock.now()
        if self.t0 is None:
            stamp = "setup   "
        else:
            s = int((now - self.t0).total_seconds())
            stamp = f"+{s // 3600}:{s % 3600 // 60:02}:{s % 60:02}"
        self.out(f"{stamp} {now:%H:%M} {who:<16} {text}")

    def _charger_event(self, event: SimEvent) -> None:
        if self.verbose or (event.kind in SHOWN and self.t0 is not None):
            first_boot = event.kind == "boot" and self.sims[event.charger_id].boots <= 1
            if first_boot and not self.verbose:
                return
            who = f"{event.charger_id}/{event.evse}" if event.evse else event.charger_id
            self.line(who, event.text)
        if event.kind == "error":
            self.errors.append(f"{event.charger_id}: {event.text}")

    # --- set-up -----------------------------------------------------------------------

    async def setup(self) -> None:
        s = self.scenario
        await asyncio.gather(*(self._register(c) for c in s.chargers))
        self.out(f"registered {len(s.chargers)} charger(s) in csms")
        await self._lot()
        sem = asyncio.Semaphore(8)

        async def one(car: CarState) -> None:
            async with sem:
                await self._customer(car)

        named = [c for c in self.cars.values() if c.spec.customer]
        await asyncio.gather(*(one(c) for c in named))
        if named:
            self.out(f"created {len(named)} customer(s) with their vehicle and RFID card")
        for spec in s.chargers:
            self.sims[spec.id] = ChargePointSimulator(
                self._config(spec), clock=self.clock, on_event=self._charger_event
            )
        for sim in self.sims.values():
            await sim.start()
        within = 30 + len(self.sims) / 5
        try:
            await asyncio.gather(*(sim.wait_booted(within) for sim in self.sims.values()))
        except TimeoutError:
            bad = [cp.id for cp in self.sims.values() if not cp.accepted]
            why = [e.text for cp in self.sims.values() for e in cp.events[-1:] if not cp.accepted]
            raise RuntimeError(
                f"chargers did not boot: {', '.join(bad[:5])}: {why[0] if why else '?'}"
            ) from None
        versions = sorted({c.ocpp for c in s.chargers})
        self.out(f"{len(self.sims)} charger(s) connected and booted (OCPP {', '.join(versions)})")

    def _config(self, spec: ChargerSpec) -> ChargerConfig:
        curve = PowerCurve.dc_fast(spec.kw) if spec.dc else PowerCurve.ac(spec.kw)
        return ChargerConfig(
            spec.id,
            self.ocpp_url,
            ocpp=spec.ocpp,
            evses=spec.evses,
            connectors_per_evse=spec.connectors_per_evse,
            curve=curve,
            password=spec.password,
            ca_file=self.ca_file,
            model="SIM-DC" if spec.dc else "SIM-AC",
            meter_interval=self.meter_interval,
        )

    async def _register(self, spec: ChargerSpec) -> None:
        body: dict[str, Any] = {"id": spec.id}
        if spec.password:
            body["password"] = spec.password
        if spec.tariff_id:
            body["tariff_id"] = spec.tariff_id
        # Safe to send again: a second registration is answered 409 (it exists), and the
        # PATCH sets the same values.
        status, _ = await self.client.request(
            "POST", "/charging/chargers", body, ok=(201, 409), idempotent=True
        )
        if status == 409 and len(body) > 1:
            changes = {k: v for k, v in body.items() if k != "id"}
            await self.client.request(
                "PATCH", f"/charging/chargers/{spec.id}", changes, idempotent=True
            )

    async def _lot(self) -> None:
        s = self.scenario
        slots: list[dict[str, Any]] = []
        n = 0
        for c in s.chargers:
            if not c.bay:
                continue
            for evse in range(1, c.evses + 1):
                n += 1
                self.layout[n] = (c.id, evse)
                slots.append(
                    {
                        "slot_ui": n,
                        "fits": "CAR",
                        "ev_bay": True,
                        "charger_id": c.id,
                        "connector_id": evse,
                    }
                )
        for _ in range(s.lot.regular_slots):
            n += 1
            slots.append({"slot_ui": n, "fits": "CAR"})
        if not slots:
            return
        lot = {
            "id": s.lot.id,
            "name": s.lot.name,
            "levels": [{"level": s.lot.level, "slots": slots}],
        }
        # Safe to send again: a lot created by a try whose answer was lost is answered 409.
        status, _ = await self.client.request(
            "POST", "/parking/lots", lot, ok=(201, 409), idempotent=True
        )
        bays = len(self.layout)
        what = "created" if status == 201 else "reusing"
        self.out(f"{what} lot {s.lot.id}: {bays} EV bay(s), {n - bays} regular slot(s)")

    async def _customer(self, car: CarState) -> None:
        spec = car.spec
        # Sent again after a lost answer, a customer may be created twice. The run keeps the
        # one whose answer it got and links the vehicle and the card to it; the other has
        # neither, so no visit, session or invoice can be its (an orphan record, harmless).
        # Looking it up by name instead could adopt another run's customer of the same name.
        created = await self.client.post(
            "/accounts/customers", {"name": spec.customer}, idempotent=True
        )
        car.customer_id = customer = created["id"]
        # Linking a vehicle again to the same customer is answered 200 (RFC 9110 idempotent).
        await self.client.post(
            f"/accounts/customers/{customer}/vehicles",
            {"regnum": spec.regnum, "kind": spec.kind, "fuel": spec.fuel},
            idempotent=True,
        )
        if spec.id_token:
            token = spec.id_token

            async def issued() -> tuple[int, Any] | None:
                # A second issue of the same token is a 409: look first whether the lost
                # answer's try issued it to this customer.
                found = await self._get_or_none(f"/accounts/id-tokens/{quote(token)}")
                return (201, found) if found and found["customer_id"] == customer else None

            await self.client.post(
                f"/accounts/customers/{customer}/id-tokens",
                {"id_token": token, "type": "ISO14443"},
                reconcile=issued,
            )

    async def _get_or_none(self, path: str, **params: Any) -> Any:
        """GET, or None on 404."""
        try:
            return await self.client.get(path, **params)
        except RestError as exc:
            if exc.status == 404:
                return None
            raise

    # --- the timeline -----------------------------------------------------------------

    async def run(self) -> Summary:
        try:
            await self.setup()
            self.t0 = self.clock.now()
            start = f"{self.t0:%Y-%m-%d %H:%M}"
            self.out(f"--- timeline (simulated, x{self.speed:g}; starts {start} UTC) ---")
            scripts = [self._car(c) for c in self.cars.values()]
            scripts += [self._charger(spec) for spec in self.scenario.chargers if spec.steps]
            results = await asyncio.gather(*scripts, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    self.errors.append(f"{type(r).__name__}: {r}")
                    self.out(f"error: {type(r).__name__}: {r}")
            ended = self.clock.now()
            # Messages queued through an outage go out once each charger is back.
            with contextlib.suppress(TimeoutError):
                await asyncio.gather(*(cp.wait_idle(self.retry_for) for cp in self.sims.values()))
            return await self.summary(ended)
        finally:
            await asyncio.gather(*(cp.stop() for cp in self.sims.values()))

    async def _at(self, step: Step) -> None:
        if step.at is not None and self.t0 is not None:
            await self.clock.sleep_until(self.t0 + timedelta(seconds=step.at))

    async def _car(self, car: CarState) -> None:
        who = car.spec.regnum
        for step in car.spec.steps:
            await self._at(step)
            if car.gone:
                return
            if car.no_charging and step.do in CHARGING_STEPS:
                continue
            try:
                await self._car_step(car, step)
            except (SimulatorError, RestError, TimeoutError) as exc:
                # One failed step (an outage longer than the retries) never ends the car's
                # script: it still stops, unplugs and leaves.
                text = str(exc) or type(exc).__name__
                if car.plugged is not None:
                    last = self.sims[car.plugged[0]].events[-3:]
                    text += " (charger: " + "; ".join(e.text for e in last) + ")"
                self.line(who, f"{step.do} failed: {text}")
                self.errors.append(f"{who} {step.do}: {text}")
                if step.do in ("arrive", "plug", "authorize"):
                    car.no_charging = True

    async def _car_step(self, car: CarState, step: Step) -> None:
        who, spec, lot = car.spec.regnum, car.spec, self.scenario.lot.id
        a = step.args
        if step.do == "wait":
            await self.clock.sleep(float(a.get("minutes", 0)) * 60)
        elif step.do == "arrive":
            body: dict[str, Any] = {
                "regnum": spec.regnum,
                "kind": spec.kind,
                "fuel": spec.fuel,
                "ts": isoformat(self.clock.now()),
            }
            if "slot" in a:
                body["slot_ui"] = a["slot"]
            status, answer = await self.client.request(
                "POST",
                f"/parking/lots/{lot}/park",
                body,
                ok=(200, 201, 409),
                reconcile=lambda: self._parked_by(spec.regnum, lot, body["ts"]),
            )
            if status == 409:
                self.line(who, f"turned away: {answer.get('detail', 'lot full')}")
                car.gone = True
                return
            car.slot_ui = answer["slot_ui"]
            car.bay = self.layout.get(car.slot_ui)
            car.parked = True
            where = f" (EV bay {car.bay[0]}/{car.bay[1]})" if car.bay else ""
            self.line(who, f"parks in slot {car.slot_ui}{where}")
        elif step.do == "plug":
            target = (a["charger"], int(a.get("evse", 1))) if "charger" in a else car.bay
            if target is None:
                self.line(who, "no EV bay free: parks without charging")
                car.no_charging = True
                return
            cp = self.sims[target[0]]
            vehicle = Vehicle(spec.battery_kwh, spec.soc, spec.max_kw, regnum=spec.regnum)
            await cp.plug(target[1], vehicle, int(a.get("connector", 1)))
            car.plugged = target
            self.line(who, f"plugs into {target[0]}/{target[1]}")
        elif step.do == "authorize":
            cp, evse = self._plugged(car)
            if a.get("how", "rfid") == "remote":
                token = spec.id_token or f"APP{spec.regnum}"[:20]
                await self._online(cp, who)  # the app's start needs the charger online
                started = await self.client.post(
                    "/charging/sessions",
                    {"charger_id": cp.id, "evse_id": evse, "id_token": token},
                    ok=(201, 202),
                    reconcile=lambda: self._remote_started(cp, evse, token),
                )
                session = started.get("session_id", "answer lost")
                self.line(who, f"remote start through the API (session {session})")
                await cp.wait_for(lambda: cp.evses[evse].tx is not None, 30)
            else:
                assert spec.id_token is not None
                status = await cp.authorize(evse, spec.id_token)
                self.line(who, f"presents card {spec.id_token}: {status}")
                if status != "Accepted" and not cp.accepted:
                    # Refused offline (not in the charger's cache or local list): the driver
                    # waits for the charger to be back and presents the card again.
                    await self._online(cp, who)
                    status = await cp.authorize(evse, spec.id_token)
                    self.line(who, f"presents card {spec.id_token} again: {status}")
                if status != "Accepted":
                    car.no_charging = True
        elif step.do == "charge":
            cp, evse = self._plugged(car)
            if cp.evses[evse].tx is None:
                raise SimulatorError("no transaction to charge in")
            want = (
                f"{a['kwh']:g} kWh"
                if "kwh" in a
                else (f"to {a['soc']:.0%}" if "soc" in a else "until full")
            )
            self.line(who, f"charging ({want})")
            kwh = await cp.charge(evse, kwh=a.get("kwh"), soc=a.get("soc"))
            v = cp.evses[evse].vehicle
            soc = f", SoC {v.soc:.0%}" if v is not None else ""
            self.line(who, f"has taken {kwh:.3f} kWh{soc}")
        elif step.do == "stop":
            cp, evse = self._plugged(car)
            if cp.evses[evse].tx is None:
                self.line(who, "nothing to stop: the transaction had ended")
                return
            if a.get("how", "rfid") == "remote":
                await self._online(cp, who)
                session = await self._session_at(cp.id, evse)
                # Stopping again is answered "ended (or had ended)": safe to send again.
                await self.client.request(
                    "PATCH", f"/charging/sessions/{session}/stop", idempotent=True
                )
                self.line(who, f"remote stop through the API (session {session})")
                await cp.wait_for(lambda: cp.evses[evse].tx is None, 30)
            else:
                await cp.stop_transaction(evse, "Local", id_token=spec.id_token)
                self.line(who, "presents the card again: charging stops")
        elif step.do == "unplug":
            cp, evse = self._plugged(car)
            await cp.unplug(evse)
            car.plugged = None
            self.line(who, f"unplugs from {cp.id}/{evse}")
        elif step.do == "leave":
            if car.plugged is not None:
                cp, evse = self._plugged(car)
                await cp.unplug(evse)
                car.plugged = None
                self.line(who, f"unplugs from {cp.id}/{evse}")
            if not car.parked:
                return
            ts = isoformat(self.clock.now())
            _, answer = await self.client.request(
                "POST",
                f"/parking/lots/{lot}/leave",
                {"regnum": spec.regnum, "ts": ts},
                reconcile=lambda: self._left(spec.regnum, lot, ts),
            )
            car.parked = False
            car.visits += 1
            d = int(answer["duration_sec"])
            self.line(who, f"leaves after {d // 3600}:{d % 3600 // 60:02}:{d % 60:02}")

    async def _online(self, cp: ChargePointSimulator, who: str) -> None:
        if cp.accepted:
            return
        self.line(who, f"waits for {cp.id} to be back online")
        await cp.wait_booted(self.retry_for)

    # A park, leave or remote start whose answer was lost (a 502, a dropped connection) may
    # have happened: before sending it again the runner looks at the state, and takes what
    # it finds as that try's answer. Sent blindly, a second park would be refused (already
    # parked) and the car turned away; a second leave would be a 404; a second remote start
    # a second pending session on the same EVSE.

    async def _parked_by(self, regnum: str, lot: str, ts: str) -> tuple[int, Any] | None:
        """The car parked in this lot at the gate time we sent: the lost try's park."""
        where = await self._get_or_none(f"/parking/vehicles/{quote(regnum)}")
        if where is None or where["lot_id"] != lot or _utc(where["since"]) != _utc(ts):
            return None
        return 200, {"slot_ui": where["slot_ui"], "level": where["level"]}

    async def _left(self, regnum: str, lot: str, ts: str) -> tuple[int, Any] | None:
        """The car is no longer parked and the lot's history has its leave at our gate time."""
        if await self._get_or_none(f"/parking/vehicles/{quote(regnum)}") is not None:
            return None
        page = await self.client.get(
            f"/parking/lots/{lot}/history", regnum=regnum, limit=1000, **{"from": ts}
        )
        for row in page["items"]:
            if row["action"].upper() == "LEAVE" and _utc(row["ts"]) == _utc(ts):
                return 200, {"slot_ui": row["slot_ui"], "duration_sec": row["duration_sec"]}
        return None

    async def _remote_started(
        self, cp: ChargePointSimulator, evse: int, token: str
    ) -> tuple[int, Any] | None:
        """The charger itself says whether the lost try's RequestStart reached it."""
        e = cp.evses[evse]
        tx_token = e.tx.id_token if e.tx is not None else None
        pending = e.pending.id_token if e.pending is not None else None
        return (201, {}) if token in (tx_token, pending) else None

    def _plugged(self, car: CarState) -> tuple[ChargePointSimulator, int]:
        if car.plugged is None:
            raise SimulatorError("not plugged in")
        return self.sims[car.plugged[0]], car.plugged[1]

    async def _session_at(self, charger_id: str, evse: int) -> str:
        state = await self.client.get(f"/charging/chargers/{charger_id}")
        for s in state.get("sessions", []):
            if s["evse_id"] == evse and s["status"] == "active":
                return s["id"]
        raise SimulatorError(f"csms shows no active session on {charger_id}/{evse}")

    async def _charger(self, spec: ChargerSpec) -> None:
        cp = self.sims[spec.id]
        for step in spec.steps:
            await self._at(step)
            try:
                await self._charger_step(cp, step)
            except (SimulatorError, RestError, TimeoutError) as exc:
                text = str(exc) or type(exc).__name__
                self.line(spec.id, f"{step.do} failed: {text}")
                self.errors.append(f"{spec.id} {step.do}: {text}")

    async def _charger_step(self, cp: ChargePointSimulator, step: Step) -> None:
        a = step.args
        evse = int(a.get("evse", 1))
        if step.do == "wait":
            await self.clock.sleep(float(a.get("minutes", 0)) * 60)
        elif step.do == "fault":
            await cp.fault(evse, str(a.get("error_code", "GroundFailure")))
            if "minutes" in a:
                await self.clock.sleep(float(a["minutes"]) * 60)
                await cp.recover(evse)
        elif step.do == "recover":
            await cp.recover(evse)
        elif step.do == "disconnect":
            await cp.disconnect()
            queued = len(cp.queue)
            self.line(cp.id, f"network down ({queued} message(s) queued so far)")
            if "minutes" in a:
                await self.clock.sleep(float(a["minutes"]) * 60)
                await self._reconnect(cp)
        elif step.do == "reconnect":
            await self._reconnect(cp)
        elif step.do == "reboot":
            await cp.reboot("Hard")
            await cp.wait_booted(self.retry_for)

    async def _reconnect(self, cp: ChargePointSimulator) -> None:
        queued = len(cp.queue)
        await cp.reconnect(self.retry_for)
        self.line(cp.id, f"network back: replaying {queued} queued message(s)")
        await cp.wait_idle(self.retry_for)

    # --- the summary ------------------------------------------------------------------

    async def summary(self, ended: datetime) -> Summary:
        visits = sum(c.visits for c in self.cars.values())
        summary = Summary(
            self.scenario.name,
            len(self.sims),
            len(self.cars),
            visits,
            errors=self.errors,
            started_at=self.t0,
            ended_at=ended,
        )
        for cp in self.sims.values():
            summary.connections_lost += cp.drops
            summary.connect_failures += cp.connect_failures
            summary.reconnects += max(0, cp.connects - 1)
            if len(cp.queue):
                summary.still_queued += len(cp.queue)
                self.errors.append(
                    f"{cp.id}: {len(cp.queue)} transaction message(s) still queued "
                    f"({', '.join(cp.queue.actions()[:3])}): "
                    + ("connected" if cp.accepted else "not connected")
                )
        for cp_id in self.sims:
            try:
                page = await self.client.get("/charging/sessions", charger_id=cp_id, limit=200)
            except RestError as exc:
                self.errors.append(f"sessions of {cp_id} not read: {exc}")
                continue
            summary.sessions += [s for s in page["items"] if self._of_this_run(s)]
        if visits:
            self.out(f"waiting for billing to invoice {visits} visit(s) ...")
            summary.invoices = await self._invoices(visits)
        rest = getattr(self.client, "stats", None)
        if isinstance(rest, RetryStats):
            summary.rest = rest
        return summary

    def _of_this_run(self, session: dict[str, Any]) -> bool:
        raw = session["started_at"] or session["requested_at"]
        if raw is None:
            return False
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return at >= self.clock.start

    async def _invoices(self, visits: int) -> list[dict[str, Any]]:
        """Poll billing until every visit is invoiced and settled, or `invoice_wait` has passed.
        An outage while polling (billing down, a 502 from the gateway) only costs time: the
        run's own deadline ends the wait, with one line saying what is missing."""
        deadline = time.monotonic() + self.invoice_wait
        scope = within(deadline)  # no single call outlives the wait
        mine: list[dict[str, Any]] = []
        failure: RestError | None = None
        try:
            while True:
                try:
                    mine, done = await self._invoices_now(visits)
                    failure = None
                except RestError as exc:
                    if not exc.transient:
                        raise
                    failure, done = exc, False
                if done or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            if len(mine) <= 20:
                with contextlib.suppress(RestError):  # the list's copies do, then
                    mine = [await self.client.get(f"/billing/invoices/{i['id']}") for i in mine]
        finally:
            reset(scope)
        if len(mine) < visits or failure is not None:
            why = f"; billing's last answer: {failure}" if failure is not None else ""
            line = (
                f"billing: {len(mine)} of {visits} visit(s) invoiced within "
                f"{self.invoice_wait:g} s{why}"
            )
            self.out(line)
            self.errors.append(line)
        return mine

    async def _invoices_now(self, visits: int) -> tuple[list[dict[str, Any]], bool]:
        customers = {c.customer_id for c in self.cars.values() if c.customer_id}
        since = isoformat(self.wall_start)
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self.client.get(
                "/billing/invoices", **{"from": since, "limit": 1000, "after": after}
            )
            items += page["items"]
            if page.get("next_after") is None:
                break
            after = page["next_after"]
        named = [i for i in items if i["customer_id"] in customers]
        anon = [i for i in items if i["customer_id"] is None and await self._ours(i)]
        mine = named + anon
        settled = all(i["status"] != "draft" for i in mine) and all(
            i["status"] in ("paid", "void", "uncollectible") for i in named
        )
        return mine, len(mine) >= visits and settled

    async def _ours(self, invoice: dict[str, Any]) -> bool:
        """An anonymous invoice is this run's when its visit is: a stay in the scenario's lot by
        one of its cars, or sessions on its chargers. Read once per invoice."""
        known = self._ours_by_invoice.get(invoice["id"])
        if known is not None:
            return known
        ours = False
        if invoice.get("visit_id"):
            visit = await self.client.get(f"/billing/visits/{invoice['visit_id']}")
            stay = visit.get("stay")
            if stay is not None:
                ours = stay["lot_id"] == self.scenario.lot.id and stay["regnum"] in self._regnums
            else:
                chargers = {c.id for c in self.scenario.chargers}
                ours = any(s["charger_id"] in chargers for s in visit["sessions"])
        self._ours_by_invoice[invoice["id"]] = ours
        return ours


def _utc(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))

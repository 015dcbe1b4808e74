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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

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
from simulators.scenario.model import CarSpec, ChargerSpec, Scenario, Step

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


@dataclass
class Summary:
    scenario: str
    chargers: int
    cars: int
    visits: int
    sessions: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None  # simulated: the timeline's zero
    ended_at: datetime | None = None

    @property
    def kwh(self) -> Decimal:
        return sum((Decimal(s["kwh"]) for s in self.sessions if s.get("kwh")), Decimal(0))

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for inv in self.invoices:
            out[inv["currency"]] = out.get(inv["currency"], 0) + inv["total_minor"]
        return out


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
        status, _ = await self.client.request("POST", "/charging/chargers", body, ok=(201, 409))
        if status == 409 and len(body) > 1:
            changes = {k: v for k, v in body.items() if k != "id"}
            await self.client.request("PATCH", f"/charging/chargers/{spec.id}", changes)

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
        status, _ = await self.client.request("POST", "/parking/lots", lot, ok=(201, 409))
        bays = len(self.layout)
        what = "created" if status == 201 else "reusing"
        self.out(f"{what} lot {s.lot.id}: {bays} EV bay(s), {n - bays} regular slot(s)")

    async def _customer(self, car: CarState) -> None:
        spec = car.spec
        created = await self.client.post("/accounts/customers", {"name": spec.customer})
        car.customer_id = created["id"]
        await self.client.post(
            f"/accounts/customers/{car.customer_id}/vehicles",
            {"regnum": spec.regnum, "kind": spec.kind, "fuel": spec.fuel},
        )
        if spec.id_token:
            await self.client.post(
                f"/accounts/customers/{car.customer_id}/id-tokens",
                {"id_token": spec.id_token, "type": "ISO14443"},
            )

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
            with contextlib.suppress(TimeoutError):
                await asyncio.gather(*(cp.wait_idle(30) for cp in self.sims.values()))
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
                "POST", f"/parking/lots/{lot}/park", body, ok=(200, 201, 409)
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
                started = await self.client.post(
                    "/charging/sessions",
                    {"charger_id": cp.id, "evse_id": evse, "id_token": token},
                    ok=(201, 202),
                )
                self.line(who, f"remote start through the API (session {started['session_id']})")
                await cp.wait_for(lambda: cp.evses[evse].tx is not None, 30)
            else:
                assert spec.id_token is not None
                status = await cp.authorize(evse, spec.id_token)
                self.line(who, f"presents card {spec.id_token}: {status}")
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
                session = await self._session_at(cp.id, evse)
                await self.client.request("PATCH", f"/charging/sessions/{session}/stop")
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
            _, answer = await self.client.request(
                "POST",
                f"/parking/lots/{lot}/leave",
                {"regnum": spec.regnum, "ts": isoformat(self.clock.now())},
            )
            car.parked = False
            car.visits += 1
            d = int(answer["duration_sec"])
            self.line(who, f"leaves after {d // 3600}:{d % 3600 // 60:02}:{d % 60:02}")

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
                self.line(spec.id, f"network down ({queued} message(s) queued so far)")
                if "minutes" in a:
                    await self.clock.sleep(float(a["minutes"]) * 60)
                    await self._reconnect(cp)
            elif step.do == "reconnect":
                await self._reconnect(cp)
            elif step.do == "reboot":
                await cp.reboot("Hard")
                await cp.wait_booted(30)

    async def _reconnect(self, cp: ChargePointSimulator) -> None:
        queued = len(cp.queue)
        await cp.reconnect()
        self.line(cp.id, f"network back: replaying {queued} queued message(s)")
        await cp.wait_idle(30)

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
        for cp_id in self.sims:
            page = await self.client.get("/charging/sessions", charger_id=cp_id, limit=200)
            summary.sessions += [s for s in page["items"] if self._of_this_run(s)]
        if visits:
            self.out(f"waiting for billing to invoice {visits} visit(s) ...")
            summary.invoices = await self._invoices(visits)
        return summary

    def _of_this_run(self, session: dict[str, Any]) -> bool:
        raw = session["started_at"] or session["requested_at"]
        if raw is None:
            return False
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return at >= self.clock.start

    async def _invoices(self, visits: int) -> list[dict[str, Any]]:
        customers = {c.customer_id for c in self.cars.values() if c.customer_id}
        since = isoformat(self.wall_start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.invoice_wait
        mine: list[dict[str, Any]] = []
        while True:
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
            if (len(mine) >= visits and settled) or loop.time() >= deadline:
                break
            await asyncio.sleep(0.5)
        if len(mine) <= 20:
            mine = [await self.client.get(f"/billing/invoices/{i['id']}") for i in mine]
        return mine

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


def render_summary(summary: Summary, base_url: str) -> list[str]:
    lines = ["", f"=== summary: {summary.scenario} ==="]
    closed = [s for s in summary.sessions if s["status"] == "closed"]
    lines.append(
        f"chargers {summary.chargers}, cars {summary.cars}, visits {summary.visits}, "
        f"sessions {len(summary.sessions)} ({len(closed)} closed), "
        f"energy {summary.kwh:.3f} kWh"
    )
    for s in summary.sessions[:10]:
        lines.append(
            f"  session {s['id'][:8]} {s['charger_id']}/{s['evse_id']} {s['status']:<7} "
            f"{s['kwh'] or '-':>8} kWh  {(s['duration_sec'] or 0) // 60:>4} min  "
            f"{s['regnum'] or '-'}  {s['stop_reason'] or ''}"
        )
    if len(summary.sessions) > 10:
        lines.append(f"  ... and {len(summary.sessions) - 10} more")
    by_status: dict[str, int] = {}
    for inv in summary.invoices:
        by_status[inv["status"]] = by_status.get(inv["status"], 0) + 1
    totals = ", ".join(f"{_money(v)} {k}" for k, v in summary.totals().items()) or "-"
    lines.append(
        f"invoices {len(summary.invoices)} ("
        + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
        + f"), total {totals}"
    )
    for inv in summary.invoices[:5]:
        lines.append(
            f"  invoice {inv['id']} {inv['status']}: net {_money(inv['net_minor'])} + tax "
            f"{_money(inv['tax_minor'])} = {_money(inv['total_minor'])} {inv['currency']}"
        )
        for line in inv.get("lines", []):
            lines.append(
                f"    {line['kind']:<9} {_money(line['amount_minor']):>8}  {line['description']}"
            )
    if len(summary.invoices) > 5:
        lines.append(f"  ... and {len(summary.invoices) - 5} more")
    if summary.visits and len(summary.invoices) < summary.visits:
        lines.append(
            f"  {summary.visits - len(summary.invoices)} visit(s) not invoiced yet: billing "
            "invoices a visit once it has been quiet for CHARGEPARK_BILLING_SETTLE_SEC"
        )
    if summary.errors:
        lines.append(f"problems: {len(summary.errors)}")
        lines += [f"  {e}" for e in summary.errors[:10]]
    lines.append(f"look: {base_url}/charging/sessions  {base_url}/billing/invoices")
    return lines


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02}"

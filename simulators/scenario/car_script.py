"""A car's script on the timeline: arrive, plug, authorize (card or app), charge, stop,
unplug, leave, each step over parking's and csms's REST API or at its simulated charger. A
failed step never ends the script; a lost answer is reconciled with the platform's state."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chargepark.clock import parse_utc
from simulators.chargepoint import ChargePointSimulator, SimulatorError, Vehicle
from simulators.clock import isoformat
from simulators.rest import RestError
from simulators.scenario.model import Step
from simulators.scenario.state import CarState, RunState

CHARGING_STEPS = ("plug", "authorize", "charge", "stop", "unplug")


class CarScript(RunState):
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
        play = {
            "wait": self._car_wait,
            "arrive": self._car_arrive,
            "plug": self._car_plug,
            "authorize": self._car_authorize,
            "charge": self._car_charge,
            "stop": self._car_stop,
            "unplug": self._car_unplug,
            "leave": self._car_leave,
        }.get(step.do)
        if play is not None:
            await play(car, step.args)

    async def _car_wait(self, car: CarState, a: dict[str, Any]) -> None:
        await self.clock.sleep(float(a.get("minutes", 0)) * 60)

    async def _car_arrive(self, car: CarState, a: dict[str, Any]) -> None:
        who, spec, lot = car.spec.regnum, car.spec, self.scenario.lot.id
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

    async def _car_plug(self, car: CarState, a: dict[str, Any]) -> None:
        who, spec = car.spec.regnum, car.spec
        target = (a["charger"], int(a.get("evse", 1))) if "charger" in a else car.bay
        if target is None:
            self.line(who, "no EV bay free: parks without charging")
            car.no_charging = True
            return
        cp = self.sims[target[0]]
        leaves = spec.departure()
        vehicle = Vehicle(
            spec.battery_kwh,
            spec.soc,
            spec.max_kw,
            regnum=spec.regnum,
            max_amps=spec.max_amps,
            phases=spec.phases,
            taper_from=spec.taper_from,
            iso15118=spec.iso15118 and cp.config.ocpp == "2.0.1",
            departure=None if leaves is None or self.t0 is None else self._moment(leaves),
            want_soc=spec.target_soc(),
        )
        await cp.plug(target[1], vehicle, int(a.get("connector", 1)))
        car.plugged = target
        self.line(who, f"plugs into {target[0]}/{target[1]}")

    async def _car_authorize(self, car: CarState, a: dict[str, Any]) -> None:
        who, spec = car.spec.regnum, car.spec
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

    async def _car_charge(self, car: CarState, a: dict[str, Any]) -> None:
        who = car.spec.regnum
        cp, evse = self._plugged(car)
        if cp.evses[evse].tx is None:
            raise SimulatorError("no transaction to charge in")
        want = (
            f"{a['kwh']:g} kWh"
            if "kwh" in a
            else (f"to {a['soc']:.0%}" if "soc" in a else "until full")
        )
        self.line(who, f"charging ({want})")
        leaves = car.spec.departure()
        if a.get("until") == "departure" and leaves is not None:
            # It charges until its target or its departure, whichever comes first.
            within = max(0.0, self.clock.real_seconds_until(self._moment(leaves)))
            try:
                kwh = await cp.charge(evse, kwh=a.get("kwh"), soc=a.get("soc"), within=within)
            except TimeoutError:
                e = cp.evses[evse]
                cp.advance(e)
                tx = e.tx
                kwh = 0.0 if tx is None else (e.meter_wh - tx.meter_start_wh) / 1000
        else:
            kwh = await cp.charge(evse, kwh=a.get("kwh"), soc=a.get("soc"))
        v = cp.evses[evse].vehicle
        soc = f", SoC {v.soc:.0%}" if v is not None else ""
        self.line(who, f"has taken {kwh:.3f} kWh{soc}")

    async def _car_stop(self, car: CarState, a: dict[str, Any]) -> None:
        who, spec = car.spec.regnum, car.spec
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

    async def _car_unplug(self, car: CarState, a: dict[str, Any]) -> None:
        who = car.spec.regnum
        cp, evse = self._plugged(car)
        await cp.unplug(evse)
        car.plugged = None
        self.line(who, f"unplugs from {cp.id}/{evse}")

    async def _car_leave(self, car: CarState, a: dict[str, Any]) -> None:
        who, spec, lot = car.spec.regnum, car.spec, self.scenario.lot.id
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
        if where is None or where["lot_id"] != lot or parse_utc(where["since"]) != parse_utc(ts):
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
            if row["action"].upper() == "LEAVE" and parse_utc(row["ts"]) == parse_utc(ts):
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

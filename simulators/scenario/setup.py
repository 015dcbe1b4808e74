"""Before the timeline's zero: register the chargers (csms), create the lot with an EV bay per
charger EVSE (parking), a customer per named car with its vehicle and RFID card (accounts);
start the simulated chargers and wait for their boot. Every request is safe to send again."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from simulators.chargepoint import ChargePointSimulator, ChargerConfig, PowerCurve
from simulators.chargepoint.profiles import STATION_MAX
from simulators.rest import RestError
from simulators.scenario.model import ChargerSpec
from simulators.scenario.state import CarState, RunState


class Setup(RunState):
    async def setup(self) -> None:
        s = self.scenario
        await asyncio.gather(*(self._register(c) for c in s.chargers))
        self.out(f"registered {len(s.chargers)} charger(s) in csms")
        await self._lot()
        await self._site()
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
        if self.site_managed:
            await self._failsafe_in_force(within)

    async def _failsafe_in_force(self, within: float) -> None:
        """A managed site's timeline starts once every charger that takes profiles holds its
        station maximum: before that the energy manager has not spoken yet, and at a fast
        simulated clock its first second would be minutes of unmanaged charging."""
        taking = [cp for cp in self.sims.values() if not cp.config.reject_profiles]

        def held(cp: ChargePointSimulator) -> bool:
            return bool(cp.profiles.select(evse=0, purpose=STATION_MAX))

        async def holds(cp: ChargePointSimulator) -> None:
            await cp.wait_for(lambda: held(cp), within)

        try:
            await asyncio.gather(*(holds(cp) for cp in taking))
        except TimeoutError:
            bare = [cp.id for cp in taking if not held(cp)]
            raise RuntimeError(f"no station maximum from csms on: {', '.join(bare[:5])}") from None
        self.out(f"{len(taking)} charger(s) hold their station maximum from csms")

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
            phases=spec.phases,
            reaction_time=spec.reaction_time,
            reject_profiles=spec.reject_profiles,
            ignore_limits=spec.ignore_limits,
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

    async def _site(self) -> None:
        """An energy scenario's lot gets its connection (csms's energy manager): PUT is safe
        to send again. A platform without the endpoint is said once; the run goes on
        (unmanaged, so its report shows what the lot would do without it)."""
        e = self.scenario.energy
        if e is None:
            return
        body = {
            "phases": e.phases,
            "voltage": e.voltage,
            "limit_amps": e.limit_amps,
            "margin_amps": e.margin_amps,
        }
        lot = quote(self.scenario.lot.id)
        try:
            await self.client.request("PUT", f"/charging/sites/{lot}", body, idempotent=True)
        except RestError as exc:
            self.site_managed = False
            self.out(f"site {lot}: not set up ({exc}); the chargers run unmanaged")
            return
        self.site_managed = True
        self.out(
            f"site {lot}: {e.limit_amps:g} A per phase ({e.limit_w / 1000:.0f} kW), "
            f"margin {e.margin_amps:g} A"
        )

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

"""What a scenario run holds while it plays: the scenario, its simulated clock, the platform's
REST client, the simulated chargers and each car's state; and its output (the timeline's lines,
the errors met)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.chargepoint import ChargePointSimulator, SimEvent
from simulators.clock import SimClock
from simulators.rest import PlatformClient, RestError
from simulators.scenario.energy_report import EnergyReport
from simulators.scenario.model import CarSpec, Scenario, Step

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


class RunState:
    """What every phase of a run reads and writes (see runner.py for the phases)."""

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
        plot: str | None = None,
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
        self.site_managed: bool | None = None  # an energy scenario: PUT /charging/sites went
        self.plot = plot  # an energy scenario: where its PNG goes
        self.energy_report: EnergyReport | None = None
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

    # --- shared by the phases ---------------------------------------------------------

    async def _get_or_none(self, path: str, **params: Any) -> Any:
        """GET, or None on 404."""
        try:
            return await self.client.get(path, **params)
        except RestError as exc:
            if exc.status == 404:
                return None
            raise

    def _moment(self, offset: float) -> datetime:
        """The simulated time `offset` seconds into the timeline."""
        assert self.t0 is not None
        return self.t0 + timedelta(seconds=offset)

    async def _at(self, step: Step) -> None:
        if step.at is not None and self.t0 is not None:
            await self.clock.sleep_until(self.t0 + timedelta(seconds=step.at))

"""Smart charging at the OCPP edge: what csms asks a charger once it has booted or come back,
and what a 2.0.1 charger reports on its own (block K).

After an accepted boot csms reads the charger's smart charging limits (1.6 GetConfiguration,
2.0.1 GetVariables on SmartChargingCtrlr) and makes sure it holds the operator's profiles: a
1.6 charger gets them again after every boot; a 2.0.1 charger is asked which it holds
(GetChargingProfiles, answered by ReportChargingProfiles), after a boot and after a reconnect,
and gets those it lacks. Then the listeners (the energy manager) hear of it.

None of this may wait inside the charger's own message handler (the answers are read by the
loop that handler holds up), so the handlers only ask for it (`after_boot`,
`after_reconnect`) and it runs as a task once the answer went out. At most
`CONCURRENT_SETUPS` run at once per node, so a boot storm's chargers are set up in turn
rather than all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ocpp.exceptions import FormatViolationError

from chargepark.clock import Clock, NotATime, parse_utc
from csms.domain.chargers import UnknownCharger
from csms.domain.charging_profiles import (
    EvChargingNeeds,
    ExternalLimit,
    RateUnit,
    SmartChargingLimits,
)
from csms.ocpp import capabilities
from csms.ocpp.gateway import v201 as gateway201
from csms.ports.gateway import ChargerGateway
from csms.ports.smart_charging import SmartChargingStore
from csms.services.charging_profiles import REQUESTED_BY, ChargingProfiles

log = logging.getLogger(__name__)

CONCURRENT_SETUPS = 16
CLOSE_GRACE_SEC = 5.0
REPORT_WAIT_SEC = 15.0  # for ReportChargingProfiles after an Accepted GetChargingProfiles
# Told after a charger's setup: (charger_id, OCPP version, booted: False on a reconnect).
Listener = Callable[[str, str, bool], Awaitable[None]]


class SmartChargingEdge:
    def __init__(
        self,
        gateway: ChargerGateway,
        store: SmartChargingStore,
        profiles: ChargingProfiles,
        clock: Clock,
        *,
        report_wait_sec: float = REPORT_WAIT_SEC,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.profiles = profiles
        self.clock = clock
        self.report_wait_sec = report_wait_sec
        self.listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns = asyncio.Semaphore(CONCURRENT_SETUPS)
        self._reports: dict[tuple[str, int], asyncio.Event] = {}

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def after_boot(self, charger_id: str, version: str) -> None:
        self._spawn(lambda: self._setup(charger_id, version, booted=True), charger_id)

    def after_reconnect(self, charger_id: str, version: str) -> None:
        self._spawn(lambda: self._setup(charger_id, version, booted=False), charger_id)

    async def close(self) -> None:
        """Called once the sockets are closed: the setups still running end quickly (their
        commands find no charger), so they are let finish rather than cut off in the middle
        of a database call; what is left after `CLOSE_GRACE_SEC` is cancelled."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE_SEC)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def idle(self) -> None:
        """Waits until no setup runs (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Callable[[], Awaitable[None]], charger_id: str) -> None:
        async def run() -> None:
            try:
                async with self._turns:
                    await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("smart charging setup failed", extra={"charger_id": charger_id})

        task = asyncio.get_running_loop().create_task(run(), name=f"smart-charging-{charger_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _setup(self, charger_id: str, version: str, *, booted: bool) -> None:
        began = self.clock.now()
        if booted:
            limits = await self._read_limits(charger_id, version)
            if limits is not None:
                await self.store.save_limits(charger_id, limits, self.clock.now())
        if version == gateway201.VERSION:
            await self._check_held(charger_id, version, began)
        elif booted:  # a 1.6 charger may forget its profiles when it restarts: sent again
            with contextlib.suppress(UnknownCharger):  # admitted without registration
                await self.profiles.resend(charger_id, version, since=began)
        for listener in self.listeners:
            try:
                await listener(charger_id, version, booted)
            except Exception:  # one listener's failure is its own: the others still hear
                log.exception("smart charging listener failed", extra={"charger_id": charger_id})

    async def _read_limits(self, charger_id: str, version: str) -> SmartChargingLimits | None:
        action, payload = capabilities.request(version)
        outcome = await self.gateway.send(charger_id, action, payload, requested_by=REQUESTED_BY)
        if not outcome.answered or outcome.response is None:
            log.info(
                "smart charging limits not read",
                extra={"charger_id": charger_id, "status": str(outcome.status)},
            )
            return None
        return capabilities.limits_of(version, outcome.response)

    async def _check_held(self, charger_id: str, version: str, began: datetime) -> None:
        """Asks a 2.0.1 charger which of the operator's profiles it holds and sends the rest
        (only when there are any to check: a charger without operator profiles is not asked)."""
        try:
            stored = await self.profiles.of_charger(charger_id)
        except UnknownCharger:  # admitted without registration (CHARGEPARK_OCPP_UNKNOWN)
            return
        if not stored:
            return
        request_id = secrets.randbelow(2**31 - 1) + 1
        action, payload = gateway201.get_charging_profiles(
            request_id, profile_ids=tuple(s.profile.profile_id for s in stored)
        )
        done = self._reports[(charger_id, request_id)] = asyncio.Event()
        try:
            outcome = await self.gateway.send(
                charger_id, action, payload, requested_by=REQUESTED_BY
            )
            status = (outcome.response or {}).get("status") if outcome.answered else None
            if status == "NoProfiles":
                await self.store.forget_installed(charger_id)
            elif status == "Accepted":
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.report_wait_sec):
                        await done.wait()
            else:
                return  # no way to tell what it holds: nothing sent blindly
        finally:
            self._reports.pop((charger_id, request_id), None)
        held = {p.profile_id for p in await self.store.installed(charger_id)}
        await self.profiles.resend(charger_id, version, held=held, since=began)

    async def report_seen(self, charger_id: str, payload: Mapping[str, Any]) -> None:
        """A NotifyReport: SmartChargingCtrlr variables it carries update the charger's limits."""
        found = capabilities.from_report(payload.get("reportData") or ())
        if not found:
            return
        known = await self.store.limits(charger_id)
        limits = capabilities.merge(known, found)
        await self.store.save_limits(charger_id, limits, self.clock.now())

    # 2.0.1 reports, each in the charger's spelling (camelCase), kept version-free.

    async def profiles_reported(self, charger_id: str, payload: Mapping[str, Any]) -> None:
        """ReportChargingProfiles: kept as what the charger holds; the last report of a
        request (tbc false) ends the wait of the check that asked for it."""
        with _charger_times():
            evse_id = int(payload["evseId"])
            profiles = [gateway201.profile_of(p, evse_id) for p in payload["chargingProfile"]]
            request_id = int(payload["requestId"])
            await self.store.save_installed(
                charger_id, request_id, payload["chargingLimitSource"], profiles, self.clock.now()
            )
            waiting = self._reports.get((charger_id, request_id))
            if waiting is not None and not payload.get("tbc", False):
                waiting.set()

    async def limit_reported(self, charger_id: str, payload: Mapping[str, Any]) -> None:
        """NotifyChargingLimit: kept with the limit its first schedule sets now."""
        with _charger_times():
            limit = payload["chargingLimit"]
            schedules = payload.get("chargingSchedule") or []
            first = schedules[0] if schedules else None
            await self.store.save_external_limit(
                charger_id,
                ExternalLimit(
                    evse_id=int(payload.get("evseId") or 0),
                    source=limit["chargingLimitSource"],
                    limit=_limit_now(first, self.clock.now()),
                    unit=RateUnit(first["chargingRateUnit"]) if first else None,
                    grid_critical=limit.get("isGridCritical"),
                    reported_at=self.clock.now(),
                ),
                schedules or None,
            )

    async def needs_reported(self, charger_id: str, payload: Mapping[str, Any]) -> None:
        with _charger_times():
            needs = payload["chargingNeeds"]
            params = needs.get("acChargingParameters") or needs.get("dcChargingParameters") or {}
            departure = needs.get("departureTime")
            await self.store.save_ev_needs(
                charger_id,
                EvChargingNeeds(
                    evse_id=int(payload["evseId"]),
                    requested_transfer=needs["requestedEnergyTransfer"],
                    departure=parse_utc(departure) if departure else None,
                    energy_wh=_number(params.get("energyAmount")),
                    max_current=_number(params.get("evMaxCurrent")),
                    min_current=_number(params.get("evMinCurrent")),
                    reported_at=self.clock.now(),
                ),
                dict(needs),
            )

    async def ev_schedule_reported(self, charger_id: str, payload: Mapping[str, Any]) -> None:
        schedule = {"timeBase": payload["timeBase"], **payload["chargingSchedule"]}
        await self.store.save_ev_schedule(
            charger_id, int(payload["evseId"]), schedule, self.clock.now()
        )


@contextlib.contextmanager
def _charger_times() -> Iterator[None]:
    """A time in a charger's report that cannot be read in UTC is the charger's error."""
    try:
        yield
    except NotATime as bad:
        raise FormatViolationError(details={"cause": str(bad)[:200]}) from None


def _limit_now(schedule: Mapping[str, Any] | None, now: datetime) -> float | None:
    """The schedule's limit in force at `now`: the last period started by then (a schedule
    without a start, or not started yet, by its first period)."""
    if not schedule:
        return None
    periods = sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"])
    start = schedule.get("startSchedule")
    elapsed = (now - parse_utc(start)).total_seconds() if start else 0.0
    current = periods[0]
    for period in periods:
        if period["startPeriod"] <= elapsed:
            current = period
    return float(current["limit"])


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None

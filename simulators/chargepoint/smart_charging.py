"""Smart charging at the charger, in either version's words (the v16 and v201 handlers
translate): installing and clearing profiles, the composite schedule, the limit the car obeys
(after the charger's reaction time), an external limit, and the charger's smart charging
configuration keys / variables."""

from __future__ import annotations

from datetime import datetime, timedelta

from simulators.chargepoint.evse import Evse
from simulators.chargepoint.profiles import TX, Limit, Limits, Period, Profile, lowest
from simulators.chargepoint.station import Station

# 1.6 configuration keys (read-only); settings.py maps the SmartChargingCtrlr variables
KEY_STACK = "ChargeProfileMaxStackLevel"
KEY_UNITS = "ChargingScheduleAllowedChargingRateUnit"
KEY_PERIODS = "ChargingScheduleMaxPeriods"
KEY_PROFILES = "MaxChargingProfilesInstalled"
HORIZON = 7 * 86400  # how far ahead the car looks for its next limit change


def settings_of(limits: Limits, ocpp: str) -> dict[str, str]:
    words = {"A": "Current", "W": "Power"} if ocpp == "1.6" else {"A": "A", "W": "W"}
    return {
        KEY_STACK: str(limits.max_stack_level),
        KEY_UNITS: ",".join(words[u] for u in limits.units),
        KEY_PERIODS: str(limits.max_periods),
        KEY_PROFILES: str(limits.max_profiles),
    }


class SmartCharging(Station):
    def set_profile(self, p: Profile) -> tuple[str, str | None]:
        """Install `p`: (Accepted or Rejected, why not)."""
        if self.config.reject_profiles:
            return self._refused(p, "this charger rejects every profile")
        if p.evse and p.evse not in self.evses:
            return self._refused(p, f"no EVSE {p.evse}")
        if p.purpose == TX:
            tx = self.evses[p.evse].tx
            if tx is None:
                return self._refused(p, "a TxProfile needs a running transaction")
            if p.transaction_id not in (None, tx.transaction_id):
                return self._refused(p, "not this EVSE's transaction")
        before = self._hold_all()
        problem = self.profiles.install(p)
        if problem is not None:
            return self._refused(p, problem)
        self.emit(
            "profile",
            f"profile {p.id} {p.purpose} level {p.stack_level} on EVSE {p.evse} installed",
            p.evse or None,
            profile_id=p.id,
            purpose=p.purpose,
        )
        self._limits_changed(before)
        return "Accepted", None

    def _refused(self, p: Profile, why: str) -> tuple[str, str | None]:
        self.emit("profile_rejected", f"profile {p.id} rejected: {why}", p.evse or None, why=why)
        return "Rejected", why

    def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        evse: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[Profile]:
        before = self._hold_all()
        gone = self.profiles.clear(
            profile_id=profile_id, evse=evse, purpose=purpose, stack_level=stack_level
        )
        if gone:
            ids = ", ".join(str(p.id) for p in gone)
            self.emit("profile_cleared", f"profile(s) {ids} cleared", evse or None, count=len(gone))
            self._limits_changed(before)
        return gone

    def set_external_limit(self, amps: float | None, evse: int = 0) -> None:
        """An outside limit (a grid operator's, a local EMS's): None removes it."""
        before = self._hold_all()
        if amps is None:
            self.profiles.external.pop(evse, None)
        else:
            self.profiles.external[evse] = Limit(amps)
        self.emit("external_limit", f"external limit {amps if amps is not None else 'removed'}")
        self._limits_changed(before)
        self.protocol.report_external(amps, evse)

    def after_boot(self) -> None:
        """A configured external limit is in force from the start and reported."""
        amps = self.config.external_limit_amps
        if amps is not None and 0 not in self.profiles.external:
            self.set_external_limit(amps)

    def tx_profiles_end(self, e: Evse) -> None:
        if self.profiles.transaction_ended(e.id):
            self.emit("profile_cleared", "TxProfile removed with its transaction", e.id)

    def profiles_lost(self) -> None:
        """A reboot: the charger forgets its profiles, unless it keeps them."""
        if not self.config.keep_profiles and self.profiles.profiles:
            self.profiles.profiles.clear()
            self.emit("profile_cleared", "profiles lost in the reboot")

    # --- what the car obeys -------------------------------------------------------------

    def _tx_start(self, e: Evse) -> datetime | None:
        return e.tx.started_at if e.tx is not None else None

    def schedule_limit(self, e: Evse, at: datetime) -> Limit | None:
        """The composite schedule's limit on `e` at `at` (what GetCompositeSchedule says)."""
        return self.profiles.limit_at(e.id, at, self._tx_start(e))

    def limit_for(self, e: Evse, at: datetime) -> Limit | None:
        """The limit the car obeys at `at`: the schedule's, `reaction_time` late."""
        if self.config.ignore_limits:
            return None
        if e.hold_until is not None and at < e.hold_until:
            return e.held
        lag = timedelta(seconds=self.config.reaction_time)
        own, station = self.profiles.parts_at(e.id, at - lag, self._tx_start(e))
        if station is not None:
            # the charger's maximum is shared by the EVSEs drawing now
            drawing = [x for x in self.evses.values() if x.flowing and not x.limited]
            n = max(1, len(drawing) + (0 if e in drawing else 1))
            station = Limit(station.amps / n, station.phases)
        return lowest(own, station)

    def next_limit_change(self, e: Evse, at: datetime) -> datetime | None:
        """When the limit the car obeys may change next after `at` (None: not within days)."""
        if self.config.ignore_limits:
            return None
        if e.hold_until is not None and at < e.hold_until:
            return e.hold_until
        lag = timedelta(seconds=self.config.reaction_time)
        nxt = self.profiles.next_change(e.id, at - lag, HORIZON, self._tx_start(e))
        return None if nxt is None else nxt + lag

    def _hold_all(self) -> dict[int, Limit | None]:
        """Before a change: bring every meter up to now, note the limits the cars obey."""
        now = self.clock.now()
        held = {}
        for e in self.evses.values():
            self.advance(e)
            held[e.id] = self.limit_for(e, now)
        return held

    def _limits_changed(self, before: dict[int, Limit | None]) -> None:
        """The cars keep their old limit for the reaction time, then obey the new one."""
        now = self.clock.now()
        until = now + timedelta(seconds=self.config.reaction_time)
        for e in self.evses.values():
            e.held = before[e.id]
            e.hold_until = until
            e.poke()

    def composite_schedule(
        self, evse_id: int, duration: int, unit: str | None
    ) -> tuple[datetime, str, list[Period]]:
        """(start, unit, periods) of the composite schedule; where no profile limits, the
        charger's rating."""
        now = self.clock.now().replace(microsecond=0)
        e = self.evses.get(evse_id)
        rating = self.config.curve.max_kw * 1000 / (self.config.voltage * self.config.phases)
        chosen = unit or ("W" if "A" not in self.profiles.limits.units else "A")
        periods = self.profiles.composite(
            evse_id,
            now,
            duration,
            chosen,
            self._tx_start(e) if e is not None else None,
            default=Limit(round(rating, 1)),
        )
        return now, chosen, periods

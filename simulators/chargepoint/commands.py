"""What the CSMS asks of the charger, in either version's words (the v16 and v201 handlers
translate and answer): remote start, finding a transaction, availability, unlock, reset."""

from __future__ import annotations

import functools

from simulators.chargepoint.evse import Evse
from simulators.chargepoint.profiles import Profile
from simulators.chargepoint.station import Station


class RemoteCommands(Station):
    def remote_start(
        self,
        evse_id: int | None,
        id_token: str,
        remote_start_id: int | None,
        profile: Profile | None = None,
    ) -> tuple[bool, Evse | None]:
        """Accept a remote start on `evse_id` (or the first EVSE that can take it); a
        TxProfile sent with it is installed once the transaction has started."""
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
            e.start_profile = profile
            self.later(functools.partial(self._remote_begin, e, id_token, remote_start_id))
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

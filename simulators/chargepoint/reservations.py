"""Reservations: an EVSE held for one id token until its expiry (ReserveNow,
CancelReservation in either version)."""

from __future__ import annotations

from chargepark.clock import parse_utc
from simulators.chargepoint.evse import Evse, Reservation
from simulators.chargepoint.station import Station


class Reservations(Station):
    def reserve(self, evse_id: int | None, reservation_id: int, id_token: str, expires: str) -> str:
        try:
            expires_at = parse_utc(expires)
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

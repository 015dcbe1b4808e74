"""The charger's state and what every part of it uses: its events and the waiting on them,
its background tasks, its settings, and its status reports to the CSMS.

The parts (connection.py, transactions.py, metering.py, commands.py, reservations.py) each
add their own behaviour on top of `Station`; core.py assembles them into the
`ChargePointSimulator`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError

from simulators.chargepoint.config import ChargerConfig, SimEvent
from simulators.chargepoint.errors import Offline, SimulatorError
from simulators.chargepoint.evse import Evse
from simulators.chargepoint.profiles import Electrical, ProfileStore
from simulators.chargepoint.queue import TxQueue
from simulators.clock import SimClock

if TYPE_CHECKING:
    from datetime import datetime

    from simulators.chargepoint.evse import Transaction
    from simulators.chargepoint.profiles import Limit, Profile
    from simulators.chargepoint.v16 import V16
    from simulators.chargepoint.v201 import V201

log = logging.getLogger("simulators.chargepoint")


class OpenConnection:
    """The WebSocket of the present connection and the library's client on it."""

    def __init__(self, client: Any, ws: Any) -> None:
        self.client = client
        self.ws = ws
        self.closed = asyncio.Event()


class Station:
    """The charger's state and the machinery its parts share (see core.py for the parts)."""

    protocol: V16 | V201  # set by ChargePointSimulator, which the adapters speak for
    settings: dict[str, str]

    def __init__(
        self,
        config: ChargerConfig,
        *,
        clock: SimClock | None = None,
        on_event: Callable[[SimEvent], None] | None = None,
    ) -> None:
        self.config = config
        self.id = config.id
        self.clock = clock or SimClock()
        self.on_event = on_event
        self.evses: dict[int, Evse] = {
            i: Evse(i, config.connectors_per_evse, config.curve) for i in range(1, config.evses + 1)
        }
        self.queue = TxQueue()
        self.profiles = ProfileStore(
            config.profile_limits, Electrical(config.voltage, config.phases)
        )
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
        self._conn: OpenConnection | None = None
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

    if TYPE_CHECKING:
        # What one part calls on another; each is defined in the part named.

        async def call(self, request: Any) -> Any: ...  # connection.py

        async def reboot(self, kind: str = "Soft") -> None: ...  # connection.py

        async def _pump(self) -> None: ...  # core.py

        async def end_transaction(  # transactions.py
            self,
            evse_id: int,
            reason: str,
            *,
            id_token: str | None = None,
            trigger: str | None = None,
        ) -> Transaction | None: ...

        async def check_token(self, id_token: str) -> str: ...  # transactions.py

        def _begin_when_plugged(  # transactions.py
            self, e: Evse, id_token: str, remote_start_id: int | None, trigger: str
        ) -> None: ...

        def advance(self, e: Evse) -> None: ...  # metering.py

        async def _charge_loop(self, e: Evse, tx: Transaction) -> None: ...  # metering.py

        def _charge_timeout(self, e: Evse) -> float: ...  # metering.py

        def limit_for(self, e: Evse, at: datetime) -> Limit | None: ...  # smart_charging.py

        def next_limit_change(  # smart_charging.py
            self, e: Evse, at: datetime
        ) -> datetime | None: ...

        def tx_profiles_end(self, e: Evse) -> None: ...  # smart_charging.py

        def profiles_lost(self) -> None: ...  # smart_charging.py

        def set_profile(self, p: Profile) -> tuple[str, str | None]: ...  # smart_charging.py

        def after_boot(self) -> None: ...  # smart_charging.py

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
        """Until every transaction message queued before this call has been answered (or given
        up on) and the charger is accepted. Messages queued meanwhile are not waited for: a
        running transaction samples its meter every interval, and at a fast simulated clock on a
        busy machine the queue may never be seen empty."""
        target = self.queue.put_total
        await self.wait_for(lambda: self.queue.sent >= target and self.accepted, within)

    def status_of(self, evse: Evse) -> str:
        return evse.status16() if self.config.ocpp == "1.6" else evse.status201()

    # --- status -------------------------------------------------------------------------

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

    # --- tasks --------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    def later(self, make: Callable[[], Awaitable[Any]]) -> None:
        """Run `make()` once the present answer has gone out (see client.py); outside a
        command's handler, at once."""
        conn = self._conn
        if conn is not None and conn.client.in_handler:
            conn.client.after.append(make)
        else:
            self.spawn(make())  # type: ignore[arg-type]

    # --- settings (1.6 configuration keys; 2.0.1 variables map onto them) ----------------

    def setting_int(self, key: str, default: int) -> int:
        try:
            return int(self.settings.get(key, default))
        except ValueError:
            return default

    def setting_bool(self, key: str) -> bool:
        return self.settings.get(key, "false").lower() == "true"

    # --- lookups ------------------------------------------------------------------------

    def evse(self, evse_id: int) -> Evse:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise SimulatorError(f"{self.id} has no EVSE {evse_id}") from None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Offline | asyncio.CancelledError):
        log.error("simulator task failed", exc_info=exc)

"""What the 1.6 and 2.0.1 clients share: follow-up messages go out after the answer; the
version adapters' common part (`VersionAdapter`); the DataTransfer vendor both answer; the local
authorization list both update.

The ocpp library handles one incoming CALL at a time on its receive loop, so a handler must
not wait for an answer of its own (nothing would read it). A handler that has more to do (a
TriggerMessage's message, a remote start's transaction, a Reset's reboot) registers it with
`sim.later(...)`; it runs once the answer to the CSMS has been sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from simulators.chargepoint import settings as keys
from simulators.chargepoint import smart_charging as smart
from simulators.clock import isoformat

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator

VENDOR_ID = "chargepark"  # DataTransfer: messageId "echo" answers the data back


class VersionAdapter:
    """What a version adapter (V16, V201) has whatever its version: the simulator it speaks
    for, its configuration keys' defaults and the time as its messages carry it."""

    subprotocol: str

    def __init__(self, sim: ChargePointSimulator) -> None:
        self.sim = sim

    def default_settings(self) -> dict[str, str]:
        cfg = self.sim.config
        found = keys.defaults(cfg.evses, cfg.meter_interval, cfg.curve.dc or cfg.ocpp != "1.6")
        found.update(smart.settings_of(cfg.profile_limits, cfg.ocpp))
        if cfg.smart_charging:
            found["SupportedFeatureProfiles"] += ",SmartCharging"
        return found

    def now(self) -> str:
        return isoformat(self.sim.clock.now())


class FollowUps:
    """Mixed in before the library's ChargePoint class."""

    def __init__(self, sim: ChargePointSimulator, ws: Any) -> None:
        super().__init__(sim.id, ws, response_timeout=sim.config.response_timeout)  # type: ignore[call-arg]
        self.sim = sim
        self.after: list[Callable[[], Awaitable[Any]]] = []
        self.in_handler = False

    async def _handle_call(self, msg: Any) -> Any:
        self.after = []
        self.in_handler = True
        try:
            return await super()._handle_call(msg)  # type: ignore[misc]
        finally:
            self.in_handler = False
            pending, self.after = self.after, []
            for make in pending:
                self.sim.spawn(make())  # type: ignore[arg-type]


def apply_local_list(
    sim: ChargePointSimulator, version: int, update_type: str, entries: dict[str, str | None]
) -> str:
    """Full replaces the list; Differential adds, changes, and removes entries without a
    status. Answers the 1.6/2.0.1 status."""
    if not sim.setting_bool("LocalAuthListEnabled"):
        return "Failed" if sim.config.ocpp == "2.0.1" else "NotSupported"
    if update_type == "Differential":
        if version <= sim.local_list_version:
            return "VersionMismatch"
        for token, status in entries.items():
            if status is None:
                sim.local_list.pop(token, None)
            else:
                sim.local_list[token] = status
    else:
        sim.local_list = {t: s for t, s in entries.items() if s is not None}
    sim.local_list_version = version
    return "Accepted"

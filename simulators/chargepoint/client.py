"""What the 1.6 and 2.0.1 clients share: follow-up messages go out after the answer.

The ocpp library handles one incoming CALL at a time on its receive loop, so a handler must
not wait for an answer of its own (nothing would read it). A handler that has more to do (a
TriggerMessage's message, a remote start's transaction, a Reset's reboot) registers it with
`sim.later(...)`; it runs once the answer to the CSMS has been sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator


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

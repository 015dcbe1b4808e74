"""The charger gateway: everything csms asks of a charger goes out through it.

The service layer states its intent without an OCPP version's spelling (`ChargerGateway`:
remote start and stop, and the generic commands the REST API sends); the per-version
implementations in csms/ocpp/gateway/ build each version's payload and hand it to a
`CommandSender`, which sends one CALL and says how it ended. The senders: the local one
(csms/ocpp/gateway/local.py) talks to a socket this process holds; the routed one
(csms/adapters/command_routing.py) sends the same call to the csms node that holds the
charger's socket and returns the same `CommandOutcome`; the recorded one
(csms/adapters/recorded_commands.py) keeps the command log around either.

A new command (charging profiles, tariffs, display messages) is a method here and a payload
builder per version, never a branch on the version in a service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chargepark.errors import UpstreamFailed, UpstreamTimeout
from csms.domain.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfilePurpose,
    RateUnit,
)

DEFAULT_TIMEOUT_SEC = 30.0
# The ocpp library gives up on any CALL after its per-connection response timeout (30 s by
# default), so a longer wait would never be honoured.
MAX_TIMEOUT_SEC = 30.0


class CommandStatus(StrEnum):
    SENT = "sent"  # on its way: only the command log shows it, until the outcome is known
    ANSWERED = "answered"  # the charger's CALLRESULT (which may still say Rejected)
    ERROR = "error"  # a CALLERROR, or an answer that does not match its schema
    TIMEOUT = "timeout"  # no answer in time, or the socket closed before one came
    OFFLINE = "offline"  # no socket to this charger: nothing was sent
    INVALID = "invalid"  # not a valid request of that action in the charger's version
    UNKNOWN = "unknown"  # no such charger: nothing sent, nothing logged


@dataclass(frozen=True)
class CallErrorReply:
    """A CALLERROR exactly as the charger sent it."""

    code: str | None  # None when the charger used a code OCPP does not define
    description: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class CommandOutcome:
    status: CommandStatus
    action: str
    response: Mapping[str, Any] | None = None  # ANSWERED: the payload, in the version's spelling
    error: CallErrorReply | None = None  # ERROR, when the charger answered with a CALLERROR
    detail: str | None = None  # every status but ANSWERED: why, in words
    ocpp_version: str | None = None  # the version the command was checked and sent in
    command_id: int | None = None  # the command log's id, once recorded

    @property
    def answered(self) -> bool:
        return self.status is CommandStatus.ANSWERED

    @property
    def accepted(self) -> bool:
        """Answered, and the answer's status says Accepted (both versions spell it so)."""
        return self.answered and (self.response or {}).get("status") == "Accepted"


class CommandSender(Protocol):
    """Sends one command; commands to one charger go out one at a time (OCPP allows a single
    outstanding CALL per connection), in the order they were asked for.

    `payload` is the request as the charger's OCPP version spells it (camelCase), checked
    against that version's schema before it is sent. The timeout (at most MAX_TIMEOUT_SEC)
    covers waiting for earlier commands to the same charger as well as the answer. Every
    expected ending is an outcome, never an exception.

    Never await it inside an OCPP handler of the same charger: the answer is read by the very
    loop that handler holds up, so the command could only time out.
    """

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome: ...


@dataclass(frozen=True)
class StartCharging:
    """A remote start, as the service means it."""

    id_token: str
    remote_start_id: int  # the CSMS's number for this start (2.0.1 sends it; 1.6 has none)
    evse_id: int | None = None  # None: the charger picks
    # Sent with the start (1.6 RemoteStartTransaction / 2.0.1 RequestStartTransaction
    # chargingProfile): a TxProfile the transaction charges under from its first second.
    charging_profile: ChargingProfile | None = None


class ChargerGateway(Protocol):
    """What csms asks of a charger, in version-free terms. Every method returns the
    `CommandOutcome` (in the version's spelling for `response`); an expected ending is an
    outcome, never an exception. `version` is the OCPP version the charger speaks ("1.6",
    "2.0.1"): the caller knows it (the live socket's, else the last boot's)."""

    def speaks(self, version: str | None) -> bool:
        """Whether csms sends commands to chargers of that version."""
        ...

    def id_token_limit(self, version: str) -> int:
        """The longest id token that version carries (1.6 idTag: CiString20; 2.0.1: 36)."""
        ...

    async def start_charging(
        self,
        charger_id: str,
        version: str,
        start: StartCharging,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome: ...

    async def stop_charging(
        self,
        charger_id: str,
        version: str,
        transaction_id: str | None,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome: ...

    async def set_charging_profile(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        """SetChargingProfile. The caller checks the profile against the charger's limits
        first (csms.domain.charging_profiles.check_against); the outcome is INVALID when the
        built payload breaks the version's schema."""
        ...

    async def clear_charging_profile(
        self,
        charger_id: str,
        version: str,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        """ClearChargingProfile: by id, or every profile matching the other criteria (none
        given: every profile the charger holds)."""
        ...

    async def get_composite_schedule(
        self,
        charger_id: str,
        version: str,
        *,
        evse_id: int,
        duration: int,
        unit: RateUnit | None = None,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        """GetCompositeSchedule; `composite_schedule` reads the answer version-free."""
        ...

    def composite_schedule(
        self, version: str, outcome: CommandOutcome, evse_id: int
    ) -> CompositeSchedule | None:
        """The schedule of an Accepted GetCompositeSchedule answer, version-free (None:
        not answered, rejected, or no schedule)."""
        ...

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        """A command the caller spells itself (the REST API's: Reset, UnlockConnector,
        ChangeAvailability, TriggerMessage, ...), checked against the charger's version
        where the socket is."""
        ...


class ChargerFailed(UpstreamFailed):
    """The charger answered with a CALLERROR, or with something we cannot read: 502. `extra`
    goes into the problem body (the session, the OCPP error code)."""

    kind = "charger-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class ChargerSilent(UpstreamTimeout):
    """The charger did not answer in time (or the socket closed first): 504."""

    kind = "charger-timeout"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra

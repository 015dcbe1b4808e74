"""CSMS -> charger commands: a port that sends one CALL and says how it ended, its local
implementation (this node holds the socket), its routing to the node that holds the socket, and
the per-charger command log."""

from csms.commands.port import (
    DEFAULT_TIMEOUT_SEC,
    MAX_TIMEOUT_SEC,
    CallErrorReply,
    CommandOutcome,
    CommandPort,
    CommandStatus,
)

__all__ = [
    "DEFAULT_TIMEOUT_SEC",
    "MAX_TIMEOUT_SEC",
    "CallErrorReply",
    "CommandOutcome",
    "CommandPort",
    "CommandStatus",
]

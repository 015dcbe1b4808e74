"""Error kinds shared by every service.

Domain code raises these; each edge (REST, OCPP, consumer, CLI) translates them once.
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule said no. REST answers it with `status` as problem+json."""

    status = 400
    kind = "bad-request"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status = 404
    kind = "not-found"


class Forbidden(DomainError):
    """The caller is who they say, but this is not theirs to see or do."""

    status = 403
    kind = "forbidden"


class Conflict(DomainError):
    status = 409
    kind = "conflict"


class Invalid(DomainError):
    status = 422
    kind = "invalid"


class ConfigError(Exception):
    """Start-up configuration is unusable; the CLI prints it on one line and exits 2."""


class BusUnavailable(Exception):
    """The event bus cannot take a message now; the outbox keeps it for later."""


class Unavailable(Exception):
    """Something outside this service (a charger, another service, a database) failed or did
    not answer. Not a business rule: REST answers `status` as problem+json, a consumer retries.
    Raise it `from` the driver error so the cause stays on the chain."""

    status = 503
    kind = "unavailable"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class UpstreamFailed(Unavailable):
    """The outside party answered with an error (a charger's CALLERROR)."""

    status = 502
    kind = "upstream-failed"


class UpstreamTimeout(Unavailable):
    """The outside party did not answer in time."""

    status = 504
    kind = "upstream-timeout"


class ProgrammingError(Exception):
    """A bug in chargepark itself, never the caller's fault: REST answers 500, a consumer
    retries and then sets the event aside (it is never acknowledged as "rejected")."""


class SchemaViolation(ProgrammingError):
    """An event we produce does not match its JSON Schema (a producer bug, caught before
    commit)."""

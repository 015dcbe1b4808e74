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


class SchemaViolation(Invalid):
    """An event does not match its JSON Schema (a producer bug, caught before commit)."""

"""The scopes tokens carry, and what a customer's own token may do."""

from __future__ import annotations

SERVICES_WITH_SCOPES = ("accounts", "charging", "parking", "billing", "ops")

ALL_SCOPES: frozenset[str] = frozenset(
    {f"{svc}:{access}" for svc in SERVICES_WITH_SCOPES for access in ("read", "write")} | {"admin"}
)

# A customer's token (password grant) reads its own data; handlers check ownership through
# Principal.customer_id. It never carries admin or another service's write scopes.
CUSTOMER_SCOPES: frozenset[str] = frozenset(
    {"accounts:read", "accounts:write", "charging:read", "parking:read", "billing:read"}
)

CUSTOMER_ROLE = "customer"
CLIENT_ROLE = "client"


def parse_scopes(raw: str | None) -> frozenset[str]:
    return frozenset((raw or "").split())


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    return " ".join(sorted(scopes))

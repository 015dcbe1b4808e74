"""An id token's authorization, as accounts says it and csms caches it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Authorization:
    status: str  # Accepted | Blocked | Expired | Unknown
    customer_id: str | None = None
    expires_at: datetime | None = None

    def at(self, now: datetime) -> Authorization:
        """What it says at `now`: an Accepted token past its expiry is Expired."""
        if self.status == "Accepted" and self.expires_at is not None and self.expires_at <= now:
            return Authorization("Expired", self.customer_id, self.expires_at)
        return self

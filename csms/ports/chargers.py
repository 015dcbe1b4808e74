"""What the charger registry's use cases (and the hot path's batched writers) need of the
charger store. The SQL store is csms/adapters/charger_store.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from csms.domain.chargers import Charger, Connector


class ChargerStore(Protocol):
    async def find(self, charger_id: str, *, for_update: bool = False) -> Charger | None: ...

    async def get(self, charger_id: str, *, for_update: bool = False) -> Charger:
        """The charger, or UnknownCharger."""

    async def find_many(
        self, ids: Sequence[str], *, for_update: bool = False, with_connectors: bool = True
    ) -> dict[str, Charger]:
        """Many chargers at once, read (and locked) in id order: no deadlocks between
        batches."""

    async def page(self, limit: int, offset: int) -> tuple[Sequence[Charger], int]: ...

    async def credentials(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The password hash (None: no password) of each registered charger among `ids`."""

    async def connector_states(
        self, ids: Sequence[str]
    ) -> dict[str, dict[tuple[int, int], Connector]]:
        """The connectors of each registered charger among `ids`, without locking them."""

    async def add(self, charger: Charger) -> None:
        """A new charger, or ChargerExists."""

    async def add_many(self, new: Sequence[Charger]) -> None: ...

    async def save(self, charger: Charger) -> None:
        """The charger's own fields; its connectors go through `save_connectors`."""

    async def save_boots(self, booted: Sequence[Charger]) -> None:
        """What a BootNotification changes, for many chargers at once."""

    async def save_connectors(self, rows: Sequence[tuple[str, Connector]]) -> None:
        """Connector states (at most one per connector), inserted or updated."""

    async def remove(self, charger_id: str) -> None:
        """The charger and its connectors, or UnknownCharger."""

    async def touch(self, seen: Mapping[str, datetime]) -> None:
        """Last-seen times, for many chargers at once."""

"""An in-memory fake of the charger store (csms/ports/chargers.py): chargers and their
connectors in dicts, handed out as copies (a change counts once saved)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime

from csms.domain.chargers import Charger, ChargerExists, Connector, UnknownCharger

_BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "ocpp_version",
    "last_boot_at",
    "last_seen_at",
    "updated_at",
)


class FakeChargerStore:
    def __init__(self) -> None:
        self.chargers: dict[str, Charger] = {}  # without their connectors
        self.connectors: dict[str, dict[tuple[int, int], Connector]] = {}

    def _copy(self, charger_id: str, with_connectors: bool = True) -> Charger:
        charger = copy.deepcopy(self.chargers[charger_id])
        if with_connectors:
            charger.connectors = copy.deepcopy(self.connectors.get(charger_id, {}))
        return charger

    async def find(self, charger_id: str, *, for_update: bool = False) -> Charger | None:
        return self._copy(charger_id) if charger_id in self.chargers else None

    async def get(self, charger_id: str, *, for_update: bool = False) -> Charger:
        charger = await self.find(charger_id)
        if charger is None:
            raise UnknownCharger(f"no charger {charger_id!r}")
        return charger

    async def find_many(
        self, ids: Sequence[str], *, for_update: bool = False, with_connectors: bool = True
    ) -> dict[str, Charger]:
        return {i: self._copy(i, with_connectors) for i in sorted(set(ids)) if i in self.chargers}

    async def page(self, limit: int, offset: int) -> tuple[Sequence[Charger], int]:
        ids = sorted(self.chargers)
        return [self._copy(i) for i in ids[offset : offset + limit]], len(ids)

    async def credentials(self, ids: Sequence[str]) -> dict[str, str | None]:
        return {i: self.chargers[i].password_hash for i in ids if i in self.chargers}

    async def connector_states(
        self, ids: Sequence[str]
    ) -> dict[str, dict[tuple[int, int], Connector]]:
        return {
            i: copy.deepcopy(self.connectors.get(i, {}))
            for i in sorted(set(ids))
            if i in self.chargers
        }

    async def add(self, charger: Charger) -> None:
        if charger.id in self.chargers:
            raise ChargerExists(f"charger {charger.id!r} is registered already")
        await self._put(charger)

    async def add_many(self, new: Sequence[Charger]) -> None:
        for charger in new:
            await self.add(charger)

    async def _put(self, charger: Charger) -> None:
        self.chargers[charger.id] = copy.deepcopy(charger)
        self.chargers[charger.id].connectors = {}

    async def save(self, charger: Charger) -> None:
        if charger.id in self.chargers:
            await self._put(charger)

    async def save_boots(self, booted: Sequence[Charger]) -> None:
        for charger in booted:
            stored = self.chargers.get(charger.id)
            if stored is not None:
                for name in _BOOT_FIELDS:
                    setattr(stored, name, getattr(charger, name))

    async def save_connectors(self, rows: Sequence[tuple[str, Connector]]) -> None:
        for charger_id, connector in rows:
            states = self.connectors.setdefault(charger_id, {})
            states[(connector.evse_id, connector.connector_id)] = copy.deepcopy(connector)

    async def remove(self, charger_id: str) -> None:
        if self.chargers.pop(charger_id, None) is None:
            raise UnknownCharger(f"no charger {charger_id!r}")
        self.connectors.pop(charger_id, None)

    async def touch(self, seen: Mapping[str, datetime]) -> None:
        for charger_id, at in seen.items():
            if charger_id in self.chargers:
                self.chargers[charger_id].last_seen_at = at

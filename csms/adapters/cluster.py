"""Which csms node holds each charger's socket, for every node to see.

`Presence` (csms/adapters/presence.py) knows the sockets of this node, in memory.
`PresenceTable` shares that in the csms database (`charger_presence`: charger -> node, OCPP
version, connected at): a row is written when a connection is accepted and removed when it
closes (only while it is still this node's), by a background writer that batches them, so a
connection never waits for it and no OCPP message costs a write. A node clears its own rows when
it starts and stops. Every few seconds each node compares its rows with its sockets (one query)
and puts right what differs: a write that failed, or a row another node removed while this
node's bus connection was briefly down.

A node that crashed (or was cut off from the database) cannot remove its rows. Each node writes
a heartbeat (`csms_nodes`) every few seconds; a node whose heartbeat is older than the node
timeout is dead to the others: the first to see it removes its heartbeat and its rows, and its
chargers are reported Offline (unless they already reconnected to another node, whose row then
replaced the dead node's). Before that, a command for one of its chargers finds nobody
answering (csms/adapters/command_routing.py) and removes that row at once. Heartbeats are
compared with the clock of the node that reads them, so node clocks must agree to well within
the timeout (NTP does). A node restarted under the same CHARGEPARK_NODE_ID clears its old rows
itself.

`Whereabouts` answers the questions of the REST API and of command routing: is a charger
connected anywhere, in which OCPP version, and which other node holds it. A charger this node
holds costs no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import Clock, SystemClock, as_utc
from chargepark.db.engine import Database
from chargepark.events.bus import backoff_delay
from csms.adapters.presence import Presence
from csms.adapters.tables import charger_presence, csms_nodes

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Holder:
    node_id: str
    ocpp_version: str  # "1.6", "2.0.1"
    connected_at: datetime


class PresenceTable:
    """The shared presence rows of one node: written in the background, read on demand.

    `only_node`: this process is the only csms node (embedded, in-process bus), so at start
    every row is a leftover of an earlier run and all are cleared, not only this node's.
    `node_timeout`: how old another node's heartbeat may be before it is taken for dead.
    """

    def __init__(
        self,
        db: Database,
        node_id: str,
        *,
        only_node: bool = False,
        clock: Clock | None = None,
        node_timeout: timedelta = timedelta(seconds=60),
        retry_base: float = 0.2,
        retry_cap: float = 5.0,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.only_node = only_node
        self.clock = clock or SystemClock()
        self.node_timeout = node_timeout
        self._retry = (retry_base, retry_cap)
        # charger -> (ocpp version, connected at) to write, or None to remove; the newest wins.
        self._pending: dict[str, tuple[str, datetime] | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- what Presence reports (never awaited by the connection) ------------------------------

    def connected(self, charger_id: str, ocpp_version: str, at: datetime) -> None:
        if not self._closed:
            self._pending[charger_id] = (ocpp_version.removeprefix("ocpp"), at)
            self._wake.set()

    def disconnected(self, charger_id: str) -> None:
        if not self._closed:
            self._pending[charger_id] = None
            self._wake.set()

    # -- lifecycle (a server of the csms service: started before the OCPP endpoint) ------------

    async def start(self) -> None:
        await self.clear()
        await self.heartbeat()
        self._task = asyncio.create_task(self._write_forever(), name="csms-presence-writer")

    async def stop(self) -> None:
        """No more writes; this node's rows are removed (its sockets are closing)."""
        self._closed = True
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.clear()
        except Exception:
            log.exception("could not remove this node's presence rows", extra=self._fields())

    async def clear(self) -> None:
        """Removes this node's rows and heartbeat (every node's, when it is the only one)."""
        async with self.db.engine.begin() as conn:
            for t in (charger_presence, csms_nodes):
                mine = delete(t).where(t.c.node_id == self.node_id)
                await conn.execute(delete(t) if self.only_node else mine)

    # -- the nodes' heartbeats (csms housekeeping, every few seconds) ---------------------------

    async def heartbeat(self) -> None:
        if self._closed:  # stopped: its heartbeat is gone and stays gone
            return
        row = {"node_id": self.node_id, "seen_at": self.clock.now()}
        async with self.db.engine.begin() as conn:
            await conn.execute(_HEARTBEAT[self.db.dialect], row)

    async def sweep_dead_nodes(self) -> list[str]:
        """Removes the heartbeat and the rows of every other node silent for longer than the
        node timeout; returns the chargers those rows held. Of several nodes sweeping at once,
        each dead node's rows go to exactly one (the one whose DELETE removed them)."""
        cutoff = self.clock.now() - self.node_timeout
        n, t = csms_nodes, charger_presence
        async with self.db.engine.begin() as conn:
            # The heartbeat row first: a node that beat again meanwhile is not taken.
            dead = (
                (
                    await conn.execute(
                        delete(n)
                        .where(n.c.seen_at < cutoff, n.c.node_id != self.node_id)
                        .returning(n.c.node_id)
                    )
                )
                .scalars()
                .all()
            )
            if not dead:
                return []
            chargers = (
                (
                    await conn.execute(
                        delete(t).where(t.c.node_id.in_(dead)).returning(t.c.charger_id)
                    )
                )
                .scalars()
                .all()
            )
        log.warning(
            "csms nodes stopped answering; their chargers are reported offline",
            extra=self._fields() | {"dead_nodes": sorted(dead), "chargers": len(chargers)},
        )
        return sorted(chargers)

    async def flush(self) -> None:
        """Write what is queued, in one transaction."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        t = charger_presence
        gone = [charger_id for charger_id, row in batch.items() if row is None]
        rows = [
            {
                "charger_id": charger_id,
                "node_id": self.node_id,
                "ocpp_version": row[0],
                "connected_at": row[1],
            }
            for charger_id, row in batch.items()
            if row is not None
        ]
        try:
            async with self.db.engine.begin() as conn:
                for chunk in _chunks(gone):
                    await conn.execute(
                        delete(t).where(t.c.node_id == self.node_id, t.c.charger_id.in_(chunk))
                    )
                if rows:
                    await conn.execute(_UPSERT[self.db.dialect], rows)
        except BaseException:
            for charger_id, row in batch.items():  # unless something newer came meanwhile
                self._pending.setdefault(charger_id, row)
            raise

    async def reconcile(self, sockets: Callable[[], Mapping[str, tuple[str, datetime]]]) -> int:
        """Queue what makes this node's rows match its `sockets()` (charger -> OCPP version,
        connected at); returns how many rows were out of step."""
        if self._closed:
            return 0
        t = charger_presence
        async with self.db.engine.connect() as conn:
            mine = set(
                (await conn.execute(select(t.c.charger_id).where(t.c.node_id == self.node_id)))
                .scalars()
                .all()
            )
        # Read after the rows, with no wait in between: a socket that opened or closed since the
        # rows were read is either queued still (on its way: not out of step) or written, and
        # then only written again, never undone.
        live = sockets()
        missing = [c for c in live if c not in mine and c not in self._pending]
        extra = [c for c in mine if c not in live and c not in self._pending]
        for charger_id in missing:
            self.connected(charger_id, *live[charger_id])
        for charger_id in extra:
            self.disconnected(charger_id)
        if missing or extra:
            log.warning(
                "presence rows out of step; put right",
                extra=self._fields() | {"missing": len(missing), "extra": len(extra)},
            )
        return len(missing) + len(extra)

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                failures = 0
            except Exception as exc:
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "writing presence rows failed; retrying",
                    extra=self._fields() | {"error": f"{type(exc).__name__}: {exc}"},
                )
                base, cap = self._retry
                await asyncio.sleep(backoff_delay(min(failures, 64), base=base, cap=cap))
                self._wake.set()

    # -- reads ---------------------------------------------------------------------------------

    async def holder(self, charger_id: str) -> Holder | None:
        return (await self.holders([charger_id])).get(charger_id)

    async def holders(self, charger_ids: Sequence[str]) -> dict[str, Holder]:
        t = charger_presence
        found: dict[str, Holder] = {}
        async with self.db.engine.connect() as conn:
            for chunk in _chunks(charger_ids):
                rows = await conn.execute(select(t).where(t.c.charger_id.in_(chunk)))
                for r in rows:
                    found[r.charger_id] = Holder(r.node_id, r.ocpp_version, as_utc(r.connected_at))
        return found

    async def forget(self, charger_id: str, node_id: str) -> bool:
        """Remove a row that is `node_id`'s (a node found dead); False when it is not there."""
        t = charger_presence
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                delete(t).where(t.c.charger_id == charger_id, t.c.node_id == node_id)
            )
        return bool(result.rowcount)

    def _fields(self) -> dict[str, str]:
        return {"node_id": self.node_id}


class Whereabouts:
    """Where a charger is connected: this node's sockets first, then the shared rows."""

    def __init__(self, local: Presence, table: PresenceTable) -> None:
        self.local = local
        self.table = table

    @property
    def node_id(self) -> str:
        return self.table.node_id

    async def elsewhere(self, charger_id: str) -> Holder | None:
        """The other node holding the charger's socket; None when this node holds it, or none
        does. A row of this node without a socket here is on its way out: not elsewhere."""
        if self.local.get(charger_id) is not None:
            return None
        holder = await self.table.holder(charger_id)
        return holder if holder is not None and holder.node_id != self.node_id else None

    async def version_of(self, charger_id: str) -> str | None:
        """The OCPP version of the charger's live socket, on whichever node holds it."""
        version = self.local.version_of(charger_id)
        if version is not None:
            return version
        holder = await self.elsewhere(charger_id)
        return holder.ocpp_version if holder else None

    async def connected(self, charger_ids: Iterable[str]) -> dict[str, str]:
        """charger -> OCPP version, for those of `charger_ids` connected to any node."""
        found: dict[str, str] = {}
        others: list[str] = []
        for charger_id in dict.fromkeys(charger_ids):
            version = self.local.version_of(charger_id)
            if version is not None:
                found[charger_id] = version
            else:
                others.append(charger_id)
        if others:
            for charger_id, holder in (await self.table.holders(others)).items():
                if holder.node_id != self.node_id:
                    found[charger_id] = holder.ocpp_version
        return found

    async def forget(self, charger_id: str, node_id: str) -> None:
        """A node found dead: its row for the charger goes (it cannot hold the socket)."""
        try:
            if await self.table.forget(charger_id, node_id):
                log.warning(
                    "stale presence removed: its node does not answer",
                    extra={"charger_id": charger_id, "node_id": node_id},
                )
        except Exception:
            log.exception("could not remove a stale presence row", extra={"node_id": node_id})


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(charger_presence)
    return statement.on_conflict_do_update(
        index_elements=["charger_id"],
        set_={
            name: statement.excluded[name] for name in ("node_id", "ocpp_version", "connected_at")
        },
    )


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


def _heartbeat(dialect: Any) -> Any:
    statement = dialect.insert(csms_nodes)
    return statement.on_conflict_do_update(
        index_elements=["node_id"], set_={"seen_at": statement.excluded.seen_at}
    )


_HEARTBEAT = {"postgresql": _heartbeat(postgresql), "sqlite": _heartbeat(sqlite)}


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]

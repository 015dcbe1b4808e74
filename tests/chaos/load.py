"""The load: cars visiting EV bays (OCPP 1.6 and 2.0.1 chargers) and regular slots, driven
through the gateway, riding out the faults the way a careful client would.

Chargers are the simulators' `ChargePointSimulator` (reconnect with backoff, boot, the ordered
queue of transaction messages that survives a lost connection). Cars are driven here, not by
`chargepark sim run`: each REST call is retried on 429/503 (after Retry-After) and on a lost
connection, and a retried POST that finds its first attempt already done (409 on park, 404/409
on leave) counts as done. Every answer the gateway gave is recorded with the phase it came in.

What the cars and chargers actually did (park/leave times, the timestamps of the transaction
messages the CSMS accepted, the energy) is kept as the truth invoices are checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from ocpp.exceptions import OCPPError

from simulators.chargepoint import ChargePointSimulator, ChargerConfig, SimEvent, Vehicle
from simulators.clock import SimClock, isoformat

LOT = "CHAOS"
PASSWORD = "chaos-charger-password-0123"
RETRYABLE = (429, 502, 503, 504)


@dataclass
class Answer:
    phase: str
    method: str
    path: str
    status: int  # 0: no answer (connection refused or reset by the gateway)
    retry_after: str | None


@dataclass
class SessionTruth:
    charger_id: str
    evse_id: int
    kwh: Decimal
    tx_key: Any  # the simulator's Transaction (its transaction_id is known once answered)


@dataclass
class VisitTruth:
    regnum: str
    customer_id: str | None
    slot_ui: int
    arrived_at: datetime
    left_at: datetime | None = None
    bay: tuple[str, int] | None = None
    sessions: list[SessionTruth] = field(default_factory=list)


class Rest:
    """One bearer token (its own rate-limit bucket at the gateway) and the retry rules."""

    def __init__(self, load: Load, http: aiohttp.ClientSession) -> None:
        self.load, self.http = load, http
        self.token: str | None = None
        self.expires = 0.0

    async def _token(self) -> str:
        if self.token is None or time.monotonic() > self.expires:
            cid, secret = self.load.client
            form = {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            status, body, _ = await self._send("POST", "/accounts/auth/token", data=form)
            if status != 200:
                raise RuntimeError(f"token: {status} {body}")
            self.token = body["access_token"]
            self.expires = time.monotonic() + max(30, int(body.get("expires_in", 300)) - 60)
        return self.token

    async def _send(self, method: str, path: str, **kw: Any) -> tuple[int, Any, str | None]:
        while True:
            try:
                async with self.http.request(method, self.load.base + path, **kw) as r:
                    body = await r.json(content_type=None) if await r.read() else None
                    status, retry = r.status, r.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, ValueError):
                status, body, retry = 0, None, None
            self.load.record(method, path, status, retry)
            if status in RETRYABLE or status == 0:
                delay = float(retry) if retry and retry.isdigit() else 0.5
                await asyncio.sleep(min(delay, 5) * (0.5 + random.random()))
                continue
            return status, body, retry

    async def call(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)
    ) -> tuple[int, Any]:
        for _ in range(3):
            headers = {"Authorization": f"Bearer {await self._token()}"}
            status, answer, _ = await self._send(method, path, json=body, headers=headers)
            if status == 401:  # a token the gateway could not check in time: a fresh one
                self.token = None
                continue
            if status not in ok:
                raise RuntimeError(f"{method} {path}: {status} {answer}")
            return status, answer
        raise RuntimeError(f"{method} {path}: 401 three times")


class Charger(ChargePointSimulator):
    """The simulator, keeping the transaction messages the CSMS answered (what billing must
    price) and when it lost and regained its connection (wall clock)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.accepted_messages: list[tuple[str, Any, Any]] = []
        self.wall_events: list[tuple[float, str]] = []

    async def call(self, request: Any) -> Any:
        result = await super().call(request)
        name = type(request).__name__
        if name in ("StartTransaction", "StopTransaction", "TransactionEvent"):
            self.accepted_messages.append((name, request, result))
        return result

    def emit(self, kind: str, text: str, evse: int | None = None, **data: Any) -> SimEvent:
        if kind in ("connected", "disconnected"):
            self.wall_events.append((time.monotonic(), kind))
        return super().emit(kind, text, evse, **data)


@dataclass
class Load:
    base: str
    ocpp_url: str
    client: tuple[str, str]
    saved_cards: dict[str, str]  # the fake Stripe's: a new customer's card goes in here
    bays: int = 6
    walkers: int = 2
    speed: float = 300
    seed: int = 15
    phase: str = "setup"
    answers: list[Answer] = field(default_factory=list)
    visits: list[VisitTruth] = field(default_factory=list)
    chargers: dict[str, Charger] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    customers: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Simulated time runs `speed` times faster, starting far enough back that it never
        # reaches the wall clock during a run (no timestamp from the future).
        self.clock = SimClock(self.speed, start=datetime.now(UTC) - timedelta(hours=48))
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.http: aiohttp.ClientSession | None = None

    def record(self, method: str, path: str, status: int, retry: str | None) -> None:
        self.answers.append(Answer(self.phase, method, path.split("?")[0], status, retry))

    def rest(self) -> Rest:
        assert self.http is not None
        return Rest(self, self.http)

    def now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    # --- set-up -------------------------------------------------------------------------

    async def setup(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        api = self.rest()
        slots: list[dict[str, Any]] = []
        for n in range(1, self.bays + 1):
            cp = self.charger_id(n)
            await api.call("POST", "/charging/chargers", {"id": cp, "password": PASSWORD})
            slots.append(
                {"slot_ui": n, "fits": "CAR", "ev_bay": True, "charger_id": cp, "connector_id": 1}
            )
        for n in range(self.bays + 1, self.bays + self.walkers + 1):
            slots.append({"slot_ui": n, "fits": "CAR"})
        lot = {"id": LOT, "name": "Chaos", "levels": [{"level": "P0", "slots": slots}]}
        await api.call("POST", "/parking/lots", lot, ok=(201,))
        for n in range(1, self.bays + 1):
            cp = self.charger_id(n)
            config = ChargerConfig(
                cp,
                self.ocpp_url,
                ocpp="1.6" if n % 2 else "2.0.1",
                password=PASSWORD,
                meter_interval=600,
                reconnect_delay=0.5,
                response_timeout=20,
            )
            self.chargers[cp] = Charger(config, clock=self.clock)
        for n in range(1, self.bays + 1):
            self.customers[n] = await self.customer(api, f"CHA{n:03}", f"CHAOSCARD{n:03}")
        for charger in self.chargers.values():
            await charger.start()
        await asyncio.gather(*(c.wait_booted(60) for c in self.chargers.values()))

    @staticmethod
    def charger_id(n: int) -> str:
        return f"CH-{n:02}"

    async def customer(self, api: Rest, regnum: str, card: str | None) -> str:
        _, made = await api.call("POST", "/accounts/customers", {"name": f"Driver {regnum}"})
        cid = made["id"]
        self.saved_cards[cid] = "pm_card_visa"
        await api.call(
            "POST",
            f"/accounts/customers/{cid}/vehicles",
            {"regnum": regnum, "kind": "CAR", "fuel": "EV"},
        )
        if card is not None:
            token = {"id_token": card, "type": "ISO14443"}
            await api.call("POST", f"/accounts/customers/{cid}/id-tokens", token)
        return cid

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Cars come, one after another at each bay and regular slot, until `stop()`."""
        for n in range(1, self.bays + 1):
            self._tasks.append(asyncio.create_task(self._guard(self._bay(n))))
        for n in range(self.walkers):
            slot = self.bays + 1 + n
            self._tasks.append(asyncio.create_task(self._guard(self._walker(n, slot))))

    def stop(self) -> None:
        """No new visit starts; the ones under way finish."""
        self._stop.set()

    async def _guard(self, work: Any) -> None:
        try:
            await work
        except Exception as exc:  # kept and reported: the run goes on with the others
            self.failures.append(f"{type(exc).__name__}: {exc}")

    async def finished(self, within: float) -> None:
        """Every car's script has run; every charger's queued messages delivered."""
        async with asyncio.timeout(within):
            await asyncio.gather(*self._tasks)
            await asyncio.gather(*(c.wait_idle(within) for c in self.chargers.values()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.stop() for c in self.chargers.values()))
        if self.http is not None:
            await self.http.close()

    async def _park(self, api: Rest, regnum: str, slot: int, fuel: str) -> VisitTruth:
        at = self.now()
        body = {"regnum": regnum, "kind": "CAR", "fuel": fuel, "ts": isoformat(at), "slot_ui": slot}
        # 409: a first attempt whose answer was lost parked it already (same body, same ts).
        await api.call("POST", f"/parking/lots/{LOT}/park", body, ok=(200, 201, 409))
        return VisitTruth(regnum, None, slot, at)

    async def _leave(self, api: Rest, visit: VisitTruth) -> None:
        at = self.now()
        body = {"regnum": visit.regnum, "ts": isoformat(at)}
        # 404/409: a first attempt whose answer was lost (same body, same ts) let it out.
        await api.call("POST", f"/parking/lots/{LOT}/leave", body, ok=(200, 404, 409))
        visit.left_at = at

    async def _bay(self, n: int) -> None:
        api = self.rest()
        cp = self.chargers[self.charger_id(n)]
        regnum, card = f"CHA{n:03}", f"CHAOSCARD{n:03}"
        cid = self.customers[n]
        while not self._stop.is_set():
            visit = await self._park(api, regnum, n, "EV")
            visit.customer_id, visit.bay = cid, (cp.id, 1)
            self.visits.append(visit)
            await self.clock.sleep(60 * self.rng.randint(1, 5))
            await cp.plug(1, Vehicle(battery_kwh=90, soc=0.1, regnum=regnum))
            for _ in range(240):  # csms unreachable and the card not cached yet: again
                with contextlib.suppress(OCPPError):  # InternalError: its database restarting
                    if (status := await cp.authorize(1, card)) == "Accepted":
                        break
                await asyncio.sleep(0.5)
            tx = cp.evses[1].tx
            assert tx is not None, status
            kwh = Decimal(self.rng.randint(3_000, 25_000)) / 1000
            await cp.charge(1, kwh=float(kwh))
            await self.clock.sleep(60 * self.rng.randint(0, 10))
            await cp.stop_transaction(1, "Local", id_token=card)
            visit.sessions.append(SessionTruth(cp.id, 1, kwh, tx))
            await self.clock.sleep(60 * self.rng.randint(5, 60))
            await cp.unplug(1)
            await self._leave(api, visit)
            await self.clock.sleep(60 * self.rng.randint(1, 10))

    async def _walker(self, n: int, slot: int) -> None:
        api = self.rest()
        regnum = f"CHW{n:03}"
        while not self._stop.is_set():
            visit = await self._park(api, regnum, slot, "ICE")
            self.visits.append(visit)
            await self.clock.sleep(60 * self.rng.randint(5, 120))
            await self._leave(api, visit)
            await self.clock.sleep(60 * self.rng.randint(1, 10))

    # --- what happened ------------------------------------------------------------------

    def statuses(self, phase: str | None = None) -> Counter[int]:
        return Counter(a.status for a in self.answers if phase is None or a.phase == phase)


@dataclass
class Prober:
    """Reads through the gateway at a steady pace while faults come and go: each answer must be
    a 2xx/4xx, or a 503 with Retry-After; never a 500, a 502 or no answer at all."""

    load: Load
    paths: tuple[str, ...] = (
        "/accounts/customers?limit=1",
        "/charging/chargers?limit=1",
        "/parking/lots",
        "/billing/invoices?limit=1",
        "/ops/alerts/rules",
    )
    interval: float = 0.25
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        api = self.load.rest()
        http = self.load.http
        assert http is not None
        i = 0
        while True:
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                headers = {"Authorization": f"Bearer {await api._token()}"}
                async with http.get(self.load.base + path, headers=headers) as r:
                    await r.read()
                    self.load.record("GET", path, r.status, r.headers.get("Retry-After"))
                    if r.status == 401:
                        api.token = None
            except (aiohttp.ClientError, TimeoutError):
                self.load.record("GET", path, 0, None)
            except RuntimeError:
                pass  # no token now (accounts down): the token calls were recorded
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def bad_answers(answers: list[Answer]) -> list[Answer]:
    """What the gateway must never answer, outage or not."""
    return [
        a
        for a in answers
        if a.status == 0
        or (a.status >= 500 and not (a.status == 503 and (a.retry_after or "").isdigit()))
    ]


def reconnect_times(chargers: dict[str, Charger], since: float) -> dict[str, float]:
    """For each charger that lost its connection after `since`: seconds from `since` until it
    was connected again."""
    times: dict[str, float] = {}
    for cp, charger in chargers.items():
        lost = False
        for at, kind in charger.wall_events:
            if at < since:
                continue
            if kind == "disconnected":
                lost = True
            elif kind == "connected" and lost:
                times[cp] = at - since
                break
    return times


def lost_connection(chargers: dict[str, Charger], since: float) -> list[str]:
    return [
        cp
        for cp, c in chargers.items()
        if any(at >= since and kind == "disconnected" for at, kind in c.wall_events)
    ]

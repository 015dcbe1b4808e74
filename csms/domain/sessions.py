"""Charging sessions (OCPP transactions): the version-free rules. Pure; times passed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

from chargepark.errors import NotFound
from chargepark.events.envelope import DomainEvent

ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
# The largest reading, in its base unit (Wh, W, A, ...), that is a reading at all: the protocol
# edge refuses a charger's value beyond it (csms/ocpp/payloads.py), and what is read back from
# storage beyond it counts as no reading, so no event carries a value a consumer cannot store.
READING_MAX = 10**12
_SEQ_MISSING_MAX = 200  # characters of the seqNo holes text (the column's length)


class UnknownSession(NotFound):
    pass


@dataclass(frozen=True, kw_only=True)
class ChargingSessionStarted(DomainEvent):
    name = "ChargingSessionStarted"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    customer_id: str | None
    regnum: str | None
    tariff_id: str | None
    started_at: datetime
    meter_start_wh: int | None
    ts: datetime


@dataclass(frozen=True, kw_only=True)
class ChargingSessionClosed(DomainEvent):
    name = "ChargingSessionClosed"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    customer_id: str | None
    regnum: str | None
    tariff_id: str | None
    started_at: datetime
    ended_at: datetime
    duration_sec: int
    energy_wh: int
    kwh: Decimal
    reason: str | None
    ts: datetime


@dataclass(frozen=True)
class Energy:
    """A session's energy and how it was worked out."""

    wh: int
    source: str  # registers | samples | intervals | none
    anomalies: int  # readings lower than the one before (a meter reset, swap or misread)


@dataclass(frozen=True)
class Reading:
    """An energy register reading: the meter's total in Wh at a time."""

    at: datetime
    wh: int


@dataclass(frozen=True)
class SessionReadings:
    """What the meter said during a session besides its start and stop registers: the register
    readings, and the summed interval energy (None: no interval sample)."""

    registers: list[Reading] = field(default_factory=list)
    interval_wh: int | None = None


NO_READINGS = SessionReadings()


@dataclass
class Session:
    id: str
    charger_id: str
    transaction_id: str | None
    evse_id: int
    connector_id: int
    started_at: datetime
    status: str = "active"  # pending (remote start asked) | active | closed | failed
    id_token: str | None = None
    customer_id: str | None = None
    start_key: str | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    ended_at: datetime | None = None
    stop_reason: str | None = None
    last_seq_no: int | None = None
    regnum: str | None = None
    tariff_id: str | None = None
    remote_start_id: int | None = None
    requested_at: datetime | None = None
    auth_status: str | None = None
    seq_missing: str | None = None
    offline_events: int = 0
    meter_anomalies: int = 0
    energy_wh: int | None = None
    energy_source: str | None = None

    @classmethod
    def open(
        cls,
        *,
        charger_id: str,
        evse_id: int,
        connector_id: int,
        at: datetime,
        transaction_id: str | None = None,
        id_token: str | None = None,
        meter_start_wh: int | None = None,
        start_key: str | None = None,
        remote_start_id: int | None = None,
        answering: Session | None = None,
    ) -> Session:
        """A session begins. With a `transaction_id`, the charger's transaction has started: a
        new active session, or the remote start it answers (`answering`) becomes it. Without
        one, a remote start is asked for: pending until a transaction answers it."""
        if transaction_id is None:
            return cls(
                id=str(uuid.uuid4()),
                charger_id=charger_id,
                transaction_id=None,
                evse_id=evse_id,
                connector_id=connector_id,
                started_at=at,
                status="pending",
                id_token=id_token,
                requested_at=at,
                remote_start_id=remote_start_id,
            )
        session = answering or cls(
            id=str(uuid.uuid4()),
            charger_id=charger_id,
            transaction_id=None,
            evse_id=evse_id,
            connector_id=connector_id,
            started_at=at,
        )
        session.transaction_id, session.status = transaction_id, "active"
        session.evse_id, session.connector_id, session.started_at = evse_id, connector_id, at
        session.id_token, session.meter_start_wh = id_token, meter_start_wh
        if start_key is not None:
            session.start_key = start_key
        return session

    def record_event(
        self, *, seq_no: int | None, offline: bool, meter_wh: int | None = None
    ) -> None:
        """An event of the ongoing transaction: its seqNo (holes tracked), whether the charger
        queued it while offline, and its register, the start's when the start had none."""
        if self.status == "active" and self.meter_start_wh is None:
            self.meter_start_wh = meter_wh
        if offline:
            self.offline_events += 1
        self.accept_seq_no(seq_no)

    def started(self) -> ChargingSessionStarted:
        return ChargingSessionStarted(
            session_id=self.id,
            charger_id=self.charger_id,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            id_token=self.id_token,
            customer_id=self.customer_id,
            regnum=self.regnum,
            tariff_id=self.tariff_id,
            started_at=self.started_at,
            meter_start_wh=self.meter_start_wh,
            ts=self.started_at,
        )

    def close(
        self,
        meter_stop_wh: int | None,
        at: datetime,
        reason: str | None,
        readings: SessionReadings = NO_READINGS,
    ) -> ChargingSessionClosed | None:
        """End the session once; a retransmitted stop changes nothing and emits nothing.

        `readings` (the session's register readings and summed interval samples) count when
        the start/stop registers cannot give the energy."""
        if self.status == "closed":
            return None
        self.status, self.ended_at, self.stop_reason = "closed", max(at, self.started_at), reason
        if meter_stop_wh is not None:
            self.meter_stop_wh = meter_stop_wh
        energy = measure_energy(
            self.meter_start_wh, self.meter_stop_wh, readings.registers, readings.interval_wh
        )
        self.energy_wh, self.energy_source = energy.wh, energy.source
        self.meter_anomalies = energy.anomalies
        return ChargingSessionClosed(
            session_id=self.id,
            charger_id=self.charger_id,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            id_token=self.id_token,
            customer_id=self.customer_id,
            regnum=self.regnum,
            tariff_id=self.tariff_id,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration_sec=int((self.ended_at - self.started_at).total_seconds()),
            energy_wh=energy.wh,
            kwh=(Decimal(energy.wh) / 1000).quantize(Decimal("0.001")),
            reason=reason,
            ts=self.ended_at,
        )

    @property
    def kwh(self) -> Decimal | None:
        if self.energy_wh is None:
            return None
        return (Decimal(self.energy_wh) / 1000).quantize(Decimal("0.001"))

    def accept_seq_no(self, seq_no: int | None) -> None:
        """Track TransactionEvent seqNos: a jump leaves holes, a late (replayed) event fills
        its hole. What is still missing when the transaction ends is reported.

        The holes are kept as ranges ("5-9,12"), so any jump costs one range, never one entry
        per missing number: seqNo is an OCPP integer (2.0.1 Part 2: 32 bit) and a charger that
        jumps from 0 to 2^31 - 1 leaves one hole of two billion numbers. A seqNo beyond what
        `last_seq_no` holds (int32, negative or above 2^31 - 1) never gets here: the protocol
        edge refuses it with PropertyConstraintViolation (csms/ocpp/payloads.py). The ranges
        kept are bounded by the column: the oldest are kept, and a count of the newer ones
        that did not fit ("+3") says the list is incomplete."""
        if seq_no is None:
            return
        if self.last_seq_no is None:
            self.last_seq_no = seq_no
            return
        ranges, dropped = _seq_ranges(self.seq_missing)
        if seq_no > self.last_seq_no:
            if seq_no > self.last_seq_no + 1:
                if dropped:  # newer than the ranges already dropped: counted with them
                    dropped += 1
                else:
                    ranges.append((self.last_seq_no + 1, seq_no - 1))
            self.last_seq_no = seq_no
        else:
            ranges = _fill(ranges, seq_no)
        self.seq_missing = _seq_text(ranges, dropped)

    @property
    def missing_seq_ranges(self) -> list[tuple[int, int]]:
        """The holes as inclusive (first, last) ranges, oldest first."""
        return _seq_ranges(self.seq_missing)[0]

    @property
    def missing_seq_nos(self) -> list[int]:
        """The missing numbers themselves, the first `SEQ_NOS_LISTED` of them at most."""
        numbers: list[int] = []
        for first, last in self.missing_seq_ranges:
            numbers.extend(range(first, min(last, first + SEQ_NOS_LISTED - len(numbers)) + 1))
            if len(numbers) >= SEQ_NOS_LISTED:
                return numbers[:SEQ_NOS_LISTED]
        return numbers


SEQ_NOS_LISTED = 1000  # missing seqNos listed one by one; the ranges say all


def _seq_ranges(text: str | None) -> tuple[list[tuple[int, int]], int]:
    """The ranges, and how many newer ones were dropped, of a `seq_missing` text: "2-3,7,+4".
    An older list of single numbers ("2,3,7") reads the same way."""
    ranges: list[tuple[int, int]] = []
    dropped = 0
    for part in text.split(",") if text else ():
        if part.startswith("+"):
            dropped = int(part[1:])
        elif part:
            first, _, last = part.partition("-")
            a, b = int(first), int(last or first)
            if ranges and ranges[-1][1] + 1 == a:  # "2,3" as first written: one range
                a = ranges.pop()[0]
            ranges.append((a, b))
    return ranges, dropped


def _fill(ranges: list[tuple[int, int]], seq_no: int) -> list[tuple[int, int]]:
    """The ranges without `seq_no`: the range holding it shrinks or splits in two."""
    for i, (first, last) in enumerate(ranges):
        if first <= seq_no <= last:
            rest = [(a, b) for a, b in ((first, seq_no - 1), (seq_no + 1, last)) if a <= b]
            return ranges[:i] + rest + ranges[i + 1 :]
    return ranges  # a duplicate, or older than the first event seen


def _seq_text(ranges: list[tuple[int, int]], dropped: int) -> str | None:
    # At most ~_SEQ_MISSING_MAX / 2 ranges: parsing and writing them is bounded, whatever the
    # numbers. The newest ranges beyond the column's room are counted, not kept.
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in ranges]
    text = ",".join(parts)
    while parts and len(text) + (len(f",+{dropped}") if dropped else 0) > _SEQ_MISSING_MAX:
        parts.pop()
        dropped += 1
        text = ",".join(parts)
    if dropped:
        text = f"{text},+{dropped}" if text else f"+{dropped}"
    return text or None


def measure_energy(
    start_wh: int | None,
    stop_wh: int | None,
    readings: list[Reading] | tuple[Reading, ...] = (),
    interval_wh: int | None = None,
) -> Energy:
    """kWh = stop register - start register, when both are there and the stop is not below the
    start. Otherwise the register readings in time order, start and stop included, counted as
    the sum of their rises: a meter that reset or was swapped mid-session counts again from its
    new value, never negative. Without two readings, the summed interval samples; else none."""
    series = [r.wh for r in sorted(readings, key=lambda r: r.at)]
    if start_wh is not None:
        series.insert(0, start_wh)
    if stop_wh is not None:
        series.append(stop_wh)
    anomalies = sum(1 for a, b in pairwise(series) if b < a)
    if start_wh is not None and stop_wh is not None and stop_wh >= start_wh:
        return Energy(stop_wh - start_wh, "registers", anomalies)
    if len(series) >= 2:
        rises = sum(b - a for a, b in pairwise(series) if b > a)
        return Energy(rises, "samples", anomalies)
    if interval_wh is not None:
        return Energy(max(0, interval_wh), "intervals", anomalies)
    return Energy(0, "none", anomalies)

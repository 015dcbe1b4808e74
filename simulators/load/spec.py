"""What one load run does, and each worker's share of it."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.load.frames import HEARTBEAT, METER, OCPP_VERSIONS, STATUS
from simulators.load.websocket import Endpoint


@dataclass(frozen=True)
class LoadSpec:
    """A whole run, all processes together.

    Charger `i` (0-based) is `<id_prefix><i:06d>`, speaks `ocpp[i % len(ocpp)]` and cycles
    through `mix` starting at `mix[i % len(mix)]`.
    """

    endpoint: Endpoint
    connections: int
    ocpp: tuple[str, ...] = ("1.6",)
    mix: tuple[int, ...] = (HEARTBEAT, STATUS, METER)
    mode: str = "closed"  # closed | open
    rate: float = 0.0  # open loop: calls/s offered by all chargers together
    duration: float = 20.0
    warmup: float = 2.0
    processes: int = 1
    connect_concurrency: int = 100  # all processes together; 0 = all at once
    connect_rate: float = 0.0  # new connections per second, all processes together; 0 = unpaced
    connect_timeout: float = 30.0  # one charger's connect + handshake + boot
    setup_timeout: float = 300.0  # all chargers', after the pacing of connect_rate
    timeout: float = 10.0  # an unanswered call
    id_prefix: str = "load-"
    password: str | None = None  # HTTP Basic, username = the charger id
    cpus: tuple[int, ...] | None = None  # pin the workers to these CPUs
    freeze_gc: bool = True  # gc.freeze() once connected (the connections live all run)

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if not 1 <= self.processes <= self.connections:
            raise ValueError("processes must be between 1 and the connections")
        if not self.ocpp or any(v not in OCPP_VERSIONS for v in self.ocpp):
            raise ValueError(f"ocpp versions are {', '.join(OCPP_VERSIONS)}")
        if len(set(self.ocpp)) != len(self.ocpp):
            raise ValueError("each ocpp version at most once")
        if not self.mix:
            raise ValueError("the mix is empty")
        if self.mode not in ("closed", "open"):
            raise ValueError("mode is closed or open")
        if self.mode == "open" and not self.rate > 0:
            raise ValueError("open loop needs a positive rate")
        if self.duration <= 0 or self.warmup < 0:
            raise ValueError("duration must be positive and warmup not negative")

    def charger_id(self, index: int) -> str:
        return f"{self.id_prefix}{index:06d}"

    def version_of(self, index: int) -> str:
        return self.ocpp[index % len(self.ocpp)]

    @property
    def setup_budget(self) -> float:
        """Seconds all chargers get to connect and boot, pacing included."""
        paced = self.connections / self.connect_rate if self.connect_rate > 0 else 0.0
        return paced + self.setup_timeout

    def shares(self) -> list[WorkerSpec]:
        """The chargers split between the processes in contiguous blocks."""
        n, p = self.connections, self.processes
        out: list[WorkerSpec] = []
        first = 0
        for index in range(p):
            count = n // p + (1 if index < n % p else 0)
            out.append(WorkerSpec(load=self, index=index, first=first, count=count))
            first += count
        return out


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's chargers: `first` to `first + count - 1`."""

    load: LoadSpec
    index: int
    first: int
    count: int

    @property
    def connect_concurrency(self) -> int:
        total = self.load.connect_concurrency
        return max(1, total // self.load.processes) if total else 0

    def connect_offset(self, local: int) -> float:
        """Seconds after the start of set-up when this worker's `local`-th charger connects:
        the processes interleave so that together they keep `connect_rate`."""
        rate = self.load.connect_rate
        if rate <= 0:
            return 0.0
        return (local * self.load.processes + self.index) / rate

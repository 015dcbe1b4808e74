"""CPU time of one energy allocation round for a large site.

    python -m bench.energy_allocation --sessions 500 --repeat 200

Builds a three-phase site with `--sessions` active charging sessions (two in three
three-phase, the rest single-phase spread over L1..L3; mixed minimums, maximums, energy needs
and departures; a few non-smart chargers; a fifth drawing well below their limit) behind a
connection that cannot give everyone the minimum, so some are paused and the pause rotates.
It warms the rotation state up over a few rounds, then times `allocate` (and, separately, the
transition plan and the clipping of raises the manager does after it) with time.process_time
over `--repeat` rounds, each one minute after the one before with the state carried over, and
prints the median and the maximum CPU time per call and the machine it ran on.

A script, not a test: it asserts nothing about timings (docs/performance.md, "Energy
allocation", has the figures and the target: under 20 ms of CPU per allocation at 500).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from csms.domain.energy import (
    Capacity,
    Demand,
    RotationState,
    allocate,
    clip_raises,
    plan_transition,
)

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def site(sessions: int, seed: int) -> tuple[Capacity, list[Demand]]:
    rnd = random.Random(seed)
    demands = []
    for i in range(sessions):
        phases = (1, 2, 3) if i % 3 else ((i // 3) % 3 + 1,)
        minimum = rnd.choice((6.0, 6.0, 8.0))
        started = T0 - timedelta(minutes=rnd.uniform(0, 240))
        demands.append(
            Demand(
                key=f"cp{i:04d}/1",
                phases=phases,
                min_amps=minimum,
                max_amps=rnd.choice((16.0, 32.0)),
                drawn_amps=rnd.choice((None, 1.0, 14.0, 30.0)),
                active=True,
                smart=i % 50 != 0,  # a few chargers that cannot be controlled
                energy_needed_wh=rnd.choice((None, rnd.uniform(2_000, 60_000))),
                departure=rnd.choice((None, T0 + timedelta(minutes=rnd.uniform(10, 600)))),
                started_at=started,
            )
        )
    # room for about 80 % of the minimums: some are always paused
    per_phase = sum(d.min_amps * len(d.phases) for d in demands) / 3 * 0.8
    return Capacity((per_phase, per_phase * 0.97, per_phase * 1.02)), demands


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    spent = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        spent.append(time.process_time() - started)
    return spent


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, Python {platform.python_version()} ({platform.python_implementation()})"


def report(name: str, spent: list[float]) -> None:
    median, worst = statistics.median(spent) * 1000, max(spent) * 1000
    print(f"{name:<28} median {median:7.2f} ms   max {worst:7.2f} ms   ({len(spent)} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    capacity, demands = site(args.sessions, args.seed)
    state = RotationState()
    for minute in range(30):  # rotation and under-draw state as after half an hour
        state = allocate(capacity, demands, T0 + timedelta(minutes=minute), state).state
    rounds = iter(range(30, 30 + args.repeat))
    holder = {"state": state}

    def one_round() -> None:
        now = T0 + timedelta(minutes=next(rounds))
        holder["state"] = allocate(capacity, demands, now, holder["state"]).state

    allocation_times = timed(one_round, args.repeat)
    last = allocate(capacity, demands, T0, holder["state"])
    in_force = dict(holder["state"].granted)
    later = allocate(capacity, demands, T0 + timedelta(minutes=15), last.state).limits
    transition = plan_transition(in_force, later)
    transition_times = timed(lambda: plan_transition(in_force, later), args.repeat)
    clip_times = timed(
        lambda: clip_raises(capacity, in_force, demands, transition.raise_), args.repeat
    )
    print(f"site: {args.sessions} sessions, {len(last.paused)} paused, machine: {machine()}")
    report("allocate", allocation_times)
    report("plan_transition", transition_times)
    report("clip_raises", clip_times)


if __name__ == "__main__":
    main()

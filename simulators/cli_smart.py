"""`chargepark sim charger`'s smart charging flags: the supply, how the charger treats
charging profiles, its limits, and the car plugged in with `--plugged`. Bad values are
argparse errors (exit code 2), like every other flag."""

from __future__ import annotations

import argparse
from typing import Any

from simulators.chargepoint.power import Vehicle
from simulators.chargepoint.profiles import Limits
from simulators.cli_values import number, whole


def _units(raw: str) -> tuple[str, ...]:
    units = tuple(u.strip().upper() for u in raw.split(",") if u.strip())
    if not units or any(u not in ("A", "W") for u in units):
        raise argparse.ArgumentTypeError(f"A, W or A,W: {raw!r}")
    return units


def add_smart_flags(charger: Any) -> None:
    g = charger.add_argument_group("smart charging")
    g.add_argument("--phases", type=int, choices=(1, 3), default=3, help="supply phases (3)")
    g.add_argument(
        "--voltage",
        type=number(100, 1000),
        default=230.0,
        metavar="V",
        help="phase voltage, V (230)",
    )
    g.add_argument(
        "--reaction-time",
        type=number(0, 3600),
        default=1.0,
        metavar="SEC",
        help="simulated seconds from a schedule change until the car obeys it (1)",
    )
    g.add_argument(
        "--min-amps",
        type=number(0, 100),
        metavar="AMPS",
        default=6.0,
        help="a limit below this many A suspends charging (6)",
    )
    g.add_argument(
        "--reject-profiles", action="store_true", help="answer every SetChargingProfile Rejected"
    )
    g.add_argument(
        "--no-smart-charging",
        action="store_true",
        help="no SmartCharging feature profile: NotSupported / NotImplemented answers",
    )
    g.add_argument(
        "--ignore-limits",
        action="store_true",
        help="accept profiles but let the car draw regardless (to test the CSMS's alert)",
    )
    g.add_argument(
        "--keep-profiles", action="store_true", help="profiles survive a Reset (default: lost)"
    )
    g.add_argument(
        "--external-limit",
        type=number(0, 1000),
        metavar="AMPS",
        help="an outside limit in force from the boot (2.0.1: NotifyChargingLimit)",
    )
    _add_limits_and_car(g)


def _add_limits_and_car(g: Any) -> None:
    limits = "; a profile beyond it is Rejected"
    g.add_argument(
        "--max-stack-level", type=whole(0, 1000), default=10, metavar="N", help="(10)" + limits
    )
    g.add_argument(
        "--max-periods", type=whole(1, 1000), default=24, metavar="N", help="(24)" + limits
    )
    g.add_argument(
        "--max-profiles", type=whole(1, 1000), default=20, metavar="N", help="(20)" + limits
    )
    g.add_argument(
        "--rate-units", type=_units, default=("A", "W"), metavar="A,W", help="(A,W)" + limits
    )
    g.add_argument(
        "--car-phases", type=int, choices=(1, 3), default=3, help="--plugged car's phases (3)"
    )
    g.add_argument(
        "--car-max-amps",
        type=number(1, 500),
        metavar="AMPS",
        help="--plugged car's limit, A per phase",
    )
    g.add_argument(
        "--iso15118",
        action="store_true",
        help="2.0.1: the --plugged car sends NotifyEVChargingNeeds and answers TxProfiles "
        "with NotifyEVChargingSchedule",
    )


def smart_options(args: argparse.Namespace) -> dict[str, Any]:
    """ChargerConfig's keyword arguments from the flags."""
    if args.iso15118 and args.ocpp != "2.0.1":
        raise ValueError("--iso15118: OCPP 2.0.1 only")
    return {
        "phases": args.phases,
        "voltage": args.voltage,
        "reaction_time": args.reaction_time,
        "min_amps": args.min_amps,
        "reject_profiles": args.reject_profiles,
        "smart_charging": not args.no_smart_charging,
        "ignore_limits": args.ignore_limits,
        "keep_profiles": args.keep_profiles,
        "external_limit_amps": args.external_limit,
        "profile_limits": Limits(
            max_stack_level=args.max_stack_level,
            units=args.rate_units,
            max_periods=args.max_periods,
            max_profiles=args.max_profiles,
        ),
    }


def plugged_car(args: argparse.Namespace) -> Vehicle:
    return Vehicle(
        60,
        0.2,
        phases=args.car_phases,
        max_amps=args.car_max_amps,
        iso15118=args.iso15118,
        taper_from=0.9,
    )

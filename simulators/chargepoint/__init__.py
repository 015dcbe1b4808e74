"""A simulated OCPP 1.6J / 2.0.1 charge point, usable as a library (see core.py)."""

from simulators.chargepoint.config import ChargerConfig, SimEvent
from simulators.chargepoint.core import ChargePointSimulator, Offline, SimulatorError
from simulators.chargepoint.power import PowerCurve, Vehicle

__all__ = [
    "ChargePointSimulator",
    "ChargerConfig",
    "Offline",
    "PowerCurve",
    "SimEvent",
    "SimulatorError",
    "Vehicle",
]

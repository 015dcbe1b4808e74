"""What the simulated charger raises to the one driving it."""


class Offline(Exception):
    """The charger has no connection to the CSMS right now."""


class SimulatorError(Exception):
    """A step the charger cannot do in its present state (e.g. plug into a busy EVSE)."""

"""The OCPP central system: chargers, EVSEs, connectors, sessions and meter values."""

"""Charge point simulators, scenarios and load tests: outside clients of the platform (OCPP, REST)."""

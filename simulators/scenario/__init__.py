"""Scenarios: chargers and cars with scripts, played against a running platform."""

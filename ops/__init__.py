"""Telemetry, metric series, alert rules and incidents."""

"""csms's domain: chargers, connectors and sessions, the version-free model every OCPP adapter
translates into. Pure rules, no I/O; times are passed in."""

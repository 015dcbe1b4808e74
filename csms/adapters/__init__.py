"""csms's adapters: the SQL tables and repositories, the presence of sockets in memory and
across nodes, and the telemetry outbox. Only this package writes SQL."""

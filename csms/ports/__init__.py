"""csms's ports: every interface its use cases depend on, declared here and nowhere else.
The SQL and socket implementations live in csms/adapters/ and csms/ocpp/; the in-memory fakes
the unit tests use live in tests/support/fakes/csms/."""

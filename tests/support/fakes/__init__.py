"""In-memory fakes of the services' ports, shared by the unit and contract tests."""

"""In-memory fakes of csms's ports (csms/ports/)."""

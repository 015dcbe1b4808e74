"""chargepark kernel: configuration, database, event bus, HTTP, auth, logging and the CLI."""

__version__ = "0.1.0"

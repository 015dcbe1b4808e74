"""The NATS JetStream transport of the event bus (NatsBus): the connection and the stream
(`bus`), the fetch loops of the durable consumers (`consume`), requests (`requests`)."""

from chargepark.events.nats.bus import NatsBus

__all__ = ["NatsBus"]

"""Events: envelopes and schemas, the outbox relay, inbox-idempotent consumers, two transports."""

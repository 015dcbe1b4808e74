"""ops' use cases: ingestion of platform events, alert rules and their evaluation into
incidents, webhook deliveries, lot capacities. Typed against ops.ports only."""

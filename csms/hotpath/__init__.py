"""The hot path: what every connected charger sends most, written in batches so a boot storm
or a fleet's status reports cost one transaction per batch, not one each: the handshake's
admission, the boot and status writers and the connection reports."""

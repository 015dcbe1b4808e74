"""The scenarios shipped with chargepark (TOML files): single-visit, busy-evening,
faults-and-recovery. `chargepark sim run NAME` finds them by name."""

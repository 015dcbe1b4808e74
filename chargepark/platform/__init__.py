"""The service-aware part of chargepark: what names the five services and puts them together.

The kernel proper (the rest of `chargepark`) imports no service; this package does: the list
of services and where their REST apps are mounted, each service's own settings sections
(`config`), the runtime that builds and runs services in one process (`runtime`), and the
`chargepark` command (`cli`). tests/unit/kernel/test_layers.py keeps it so.
"""

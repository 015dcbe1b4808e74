"""The read side of ops in SQL: what the metrics routes, the gauges and rule evaluation read."""

from ops.adapters.queries.fleet import OpsQueries

__all__ = ["OpsQueries"]

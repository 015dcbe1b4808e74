"""REST API of the ops service: metrics, lot capacities, alert rules and incidents.

Reads need `ops:read`, changes `ops:write`. Only `/metrics` itself (the Prometheus exposition,
added by the kernel) is public: `/metrics/occupancy`, `/metrics/summary` and
`/metrics/chargers/{id}` are separate routes whose handlers require a token.
"""

from ops.api import alerts, metrics
from ops.api.common import ALERTS, KPIS, QUERIES, routes

__all__ = ["ALERTS", "KPIS", "QUERIES", "alerts", "metrics", "routes"]

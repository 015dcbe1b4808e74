"""REST API of the parking service: lots, park and leave, status, history and exports.

Operators (and services) hold `parking:read` / `parking:write`. A customer's token may read lots
and their occupancy, but nothing that names other people's vehicles (status, history, exports).
"""

from parking.api import lots, occupancy, reports
from parking.api.common import QUERIES, SERVICE, routes

__all__ = ["QUERIES", "SERVICE", "lots", "occupancy", "reports", "routes"]

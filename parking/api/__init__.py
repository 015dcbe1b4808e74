"""REST API of the parking service: lots, park and leave, status, history and exports.

Operators (and services) hold `parking:read` / `parking:write`. A customer's token may read lots
and their occupancy, but nothing that names other people's vehicles (status, history, exports).
"""

from parking.api import finders, lots, occupancy, reports
from parking.api.common import QUERIES, SERVICE, routes
from parking.api.finders import FINDERS

__all__ = ["FINDERS", "QUERIES", "SERVICE", "finders", "lots", "occupancy", "reports", "routes"]

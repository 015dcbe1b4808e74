"""REST API of the billing service: tariffs, invoices (the seed API) and visits.

Operators (and services) hold `billing:read` / `billing:write`. A customer's token (which
carries `billing:read`) sees its own invoices only, and the tariffs.
"""

from billing.api import invoices, tariffs, visits
from billing.api.common import SERVICE, routes

__all__ = ["SERVICE", "invoices", "routes", "tariffs", "visits"]

"""REST API of the accounts service: customers, their vehicles and id tokens, and the lookups
other services make (whose vehicle is this, what is this RFID token's status).

Operators (and services) hold `accounts:read` / `accounts:write`; a customer's own token holds
them too but reaches only its own customer (another customer's id is a 404, as if it did not
exist, so ids cannot be probed).
"""

from accounts.api import customers, id_tokens, vehicles
from accounts.api.common import SERVICE, routes

__all__ = ["SERVICE", "customers", "id_tokens", "routes", "vehicles"]

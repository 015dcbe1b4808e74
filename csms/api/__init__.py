"""csms's REST API: the charger registry and charging sessions."""

from csms.api.chargers import PRESENCE, SERVICE
from csms.api.chargers import routes as charger_routes
from csms.api.sessions import SESSIONS
from csms.api.sessions import routes as session_routes

routes = [*charger_routes, *session_routes]

__all__ = ["PRESENCE", "SERVICE", "SESSIONS", "routes"]

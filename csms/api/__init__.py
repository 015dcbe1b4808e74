"""csms's REST API: the charger registry, commands to chargers and charging sessions."""

from csms.api.chargers import routes as charger_routes
from csms.api.charging_profiles import PROFILES, SMART_CHARGING
from csms.api.charging_profiles import routes as charging_profile_routes
from csms.api.commands import COMMAND_LOG, GATEWAY
from csms.api.commands import routes as command_routes
from csms.api.keys import PRESENCE, REMOTE, SERVICE, SESSIONS, WHEREABOUTS
from csms.api.sessions import routes as session_routes
from csms.api.sites import SITES
from csms.api.sites import routes as site_routes

routes = [
    *charger_routes,
    *command_routes,
    *session_routes,
    *charging_profile_routes,
    *site_routes,
]

__all__ = [
    "COMMAND_LOG",
    "GATEWAY",
    "PRESENCE",
    "PROFILES",
    "REMOTE",
    "SERVICE",
    "SESSIONS",
    "SITES",
    "SMART_CHARGING",
    "WHEREABOUTS",
    "routes",
]

"""What the csms app holds for its routes: one place, so route modules need not import each
other for a key."""

from __future__ import annotations

from aiohttp import web

from csms.adapters.cluster import Whereabouts
from csms.adapters.presence import Presence
from csms.ports.sessions import SessionReads
from csms.services.chargers import ChargingService
from csms.services.remote import RemoteControl

SERVICE = web.AppKey("charging_service", ChargingService)
PRESENCE = web.AppKey("presence", Presence)  # this node's sockets
WHEREABOUTS = web.AppKey("whereabouts", Whereabouts)  # connected to any csms node
SESSIONS = web.AppKey("session_queries", SessionReads)
REMOTE = web.AppKey("remote_control", RemoteControl)

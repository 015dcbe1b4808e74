"""OCPP-J endpoint: the WebSocket server and one adapter per protocol version."""

"""Charge point simulators, scenarios and load tests.

Outside clients of the platform: they speak only OCPP and REST.
"""

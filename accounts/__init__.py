"""Customers, vehicles, RFID id tokens, API clients and the JWT issuer every service trusts."""

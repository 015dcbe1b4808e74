"""The accounts service's adapters: SQL implementations of the ports in accounts/ports.py
(the customers' unit of work is accounts/repository.py)."""

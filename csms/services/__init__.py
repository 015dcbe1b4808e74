"""csms's use cases: the charger registry, sessions, remote control, authorization and the
periodic clean-ups. They depend on the domain and on ports; csms/app.py passes the adapters in."""

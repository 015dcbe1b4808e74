"""JSON Schemas of the platform's events: `<EventName>.v<schema_version>.json`."""
